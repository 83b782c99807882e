import { type CryptoKey, type JWK, exportJWK, generateKeyPair, importJWK } from "jose";
import { randomBase62 } from "../../domain/ids.js";
import type { Deps } from "../deps.js";
import { CryptoBox } from "./crypto-box.js";

export const SIGNING_ALG = "EdDSA";

export interface SigningKeyOptions {
  /** A signing key older than this is rotated on next use. Default 30 days. */
  rotateAfterSeconds: number;
  /** Longest token lifetime: rotated keys stay published this long (plus skew). */
  maxTokenTtlSeconds: number;
  /** How long a node trusts its in-memory copy of the key table. */
  refreshSeconds: number;
}

const DEFAULTS: SigningKeyOptions = { rotateAfterSeconds: 30 * 86400, maxTokenTtlSeconds: 3600, refreshSeconds: 30 };
/** Clock skew allowance between nodes and verifiers. */
const SKEW_SECONDS = 60;
/** How long the JWKS may be cached (its `Cache-Control: max-age`). */
export const JWKS_MAX_AGE_SECONDS = 300;
/** A node reads its key table again for an unknown `kid` at most this often (ms). */
const UNKNOWN_KID_RELOAD_MS = 250;

interface LoadedKey {
  kid: string;
  createdAt: string;
  rotatedAt: string | null;
  publicJwk: JWK;
  publicKey: CryptoKey;
  /** Only for the active (unrotated) key: the sealed private JWK, opened lazily. */
  sealedPrivate: string;
}

/**
 * Ed25519 signing keys for exchanged tokens, in table `signing_keys` with the private JWK
 * sealed under a key derived from the pepper.
 *
 * Rotation publishes ahead: when the signing key is due (30 days), its successor is made and
 * published in the JWKS at once, but signs only once it has been published for longer than
 * every node takes to read the table again, the JWKS may be cached, and clocks may differ
 * (`publishAheadMs`). Every node and every offline verifier behind any cache then holds it
 * before the first token it signs arrives. The key it supersedes is then retired (rotated),
 * and stays published until every token it signed has expired. A key made by `rotate()`
 * (an operator's, say after a leak) signs at once. A node that meets an unknown `kid` on a
 * token signed after its last read of the table reads it again (at most every 250 ms).
 */
export class SigningKeys {
  private readonly box: CryptoBox;
  private readonly opts: SigningKeyOptions;
  private keys = new Map<string, LoadedKey>();
  /** When the last read of the table began (epoch ms): it saw every key made before then. */
  private loadedAt = 0;
  private loading: Promise<void> | null = null;
  /** A new key being made on this node: every signer that finds one due waits for this one. */
  private renewing: Promise<void> | null = null;
  private privateKeys = new Map<string, Promise<CryptoKey>>();

  constructor(
    private readonly deps: Deps,
    opts: Partial<SigningKeyOptions> = {},
  ) {
    this.box = new CryptoBox(deps.pepper, "keyward signing-keys v1");
    this.opts = { ...DEFAULTS, ...opts };
  }

  get maxTokenTtlSeconds() {
    return this.opts.maxTokenTtlSeconds;
  }

  private nowMs() {
    return this.deps.now().getTime();
  }

  /** A key is published while tokens it signed may still be valid. */
  private published(k: LoadedKey, nowMs: number): boolean {
    if (!k.rotatedAt) return true;
    return Date.parse(k.rotatedAt) + (this.opts.maxTokenTtlSeconds + SKEW_SECONDS) * 1000 > nowMs;
  }

  /**
   * Reloads the key table (single flight). `again`: the table just changed, so a read already
   * under way (it may have started before the change) is waited out, not joined.
   */
  private async reload(again = false): Promise<void> {
    if (this.loading) {
      if (!again) return this.loading;
      await this.loading.catch(() => {});
      if (this.loading) return this.loading; // started since: it sees the change
    }
    this.loading = (async () => {
      const startedAt = this.nowMs();
      const rows = await this.deps.db.kysely.selectFrom("signing_keys").selectAll().execute();
      const next = new Map<string, LoadedKey>();
      for (const r of rows) {
        const old = this.keys.get(r.kid);
        const publicJwk = JSON.parse(r.public_jwk) as JWK;
        next.set(r.kid, {
          kid: r.kid,
          createdAt: r.created_at,
          rotatedAt: r.rotated_at,
          publicJwk,
          publicKey: old?.publicKey ?? ((await importJWK(publicJwk, SIGNING_ALG)) as CryptoKey),
          sealedPrivate: r.private_jwk_encrypted,
        });
      }
      this.keys = next;
      this.loadedAt = startedAt;
    })().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private async fresh(): Promise<void> {
    if (this.nowMs() - this.loadedAt > this.opts.refreshSeconds * 1000 || this.keys.size === 0) await this.reload();
  }

  /** How long a successor key is published before it signs (see the class). */
  private get publishAheadMs() {
    return (this.opts.refreshSeconds + JWKS_MAX_AGE_SECONDS + SKEW_SECONDS) * 1000;
  }

  private unrotated(): LoadedKey[] {
    return [...this.keys.values()].filter((k) => !k.rotatedAt).sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  /** The key that signs: the newest unrotated key published long enough, else the newest (a first key, or one `rotate()` made). */
  private activeKey(): LoadedKey | undefined {
    const keys = this.unrotated();
    const now = this.nowMs();
    return keys.find((k) => Date.parse(k.createdAt) + this.publishAheadMs <= now) ?? keys[0];
  }

  /** Unrotated keys older than the one that signs: superseded, to be retired. */
  private superseded(): LoadedKey[] {
    const active = this.activeKey();
    return active ? this.unrotated().filter((k) => k.createdAt < active.createdAt) : [];
  }

  /** Creates a new signing key; with `retire`, marks the current ones rotated (same transaction). */
  private async create(retire: boolean): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { crv: "Ed25519", extractable: true });
    const kid = `sk_${randomBase62(16)}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: "sig" };
    const privateJwk = await exportJWK(privateKey);
    const t = this.deps.now().toISOString();
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      if (retire)
        await trx.updateTable("signing_keys").set({ rotated_at: t }).where("rotated_at", "is", null).execute();
      await trx
        .insertInto("signing_keys")
        .values({
          kid,
          alg: SIGNING_ALG,
          public_jwk: JSON.stringify(publicJwk),
          private_jwk_encrypted: this.box.seal(JSON.stringify(privateJwk)),
          created_at: t,
          rotated_at: null,
        })
        .execute();
    });
    this.deps.logger.info({ kid, rotated: retire }, "new token signing key");
    await this.reload(true);
    return kid;
  }

  /**
   * Whether the table needs work before signing: no key at all, the newest key due for
   * rotation (its successor is to be made), or superseded keys not retired yet.
   */
  private due(): boolean {
    return this.successorDue() || this.superseded().length > 0;
  }

  /** No key, or the newest is due for rotation: a new one is to be made. */
  private successorDue(): boolean {
    const newest = this.unrotated()[0];
    return !newest || Date.parse(newest.createdAt) + this.opts.rotateAfterSeconds * 1000 <= this.nowMs();
  }

  /**
   * Does what `due` found, once on this node however many requests find it due at once (each
   * used to make its own: 25 exchanges made 25 keys). The table is read again first, so what
   * another node has just done is not done twice. Two nodes finding it due at the same moment
   * may still each make a successor: harmless, as the newer signs and the other stays published.
   */
  private renew(): Promise<void> {
    this.renewing ??= (async () => {
      await this.reload(true);
      if (!this.due()) return;
      const old = this.superseded().map((k) => k.kid);
      if (old.length > 0) {
        // Retired now: published for as long as a token signed just before may live.
        await this.deps.db.kysely
          .updateTable("signing_keys")
          .set({ rotated_at: this.deps.now().toISOString() })
          .where("kid", "in", old)
          .where("rotated_at", "is", null)
          .execute();
        await this.reload(true);
      }
      if (this.successorDue()) await this.create(false);
    })().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  /** Retires the signing key(s) in use and starts signing with a new one. Returns its kid. */
  rotate(): Promise<string> {
    return this.create(true);
  }

  /** The key to sign with now, creating or rotating one when due. */
  async signer(): Promise<{ kid: string; key: CryptoKey }> {
    await this.fresh();
    if (this.due()) await this.renew();
    const active = this.activeKey();
    if (!active) throw new Error("no signing key after creating one");
    const sealed = active.sealedPrivate;
    let key = this.privateKeys.get(active.kid);
    if (!key) {
      key = importJWK(JSON.parse(this.box.open(sealed)) as JWK, SIGNING_ALG) as Promise<CryptoKey>;
      this.privateKeys.set(active.kid, key);
    }
    return { kid: active.kid, key: await key };
  }

  /**
   * The public key for `kid`, while published. A `kid` not seen yet on a token issued at `iat`
   * (seconds; unknown: any time) after the table was last read may be another node's new key:
   * the table is read again, at most every 250 ms (a request waits out the rest). One issued
   * before that read is not: the key would have been in it.
   */
  async publicKey(kid: string, iat?: number): Promise<CryptoKey | null> {
    await this.fresh();
    let k = this.keys.get(kid);
    if (!k && (iat === undefined || (iat + 1) * 1000 > this.loadedAt)) {
      const wait = this.loadedAt + UNKNOWN_KID_RELOAD_MS - this.nowMs();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await this.reload();
      k = this.keys.get(kid);
    }
    if (!k || !this.published(k, this.nowMs())) return null;
    return k.publicKey;
  }

  /** The JWKS document: every published public key, newest first. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    if (!this.activeKey()) await this.renew();
    const now = this.nowMs();
    const keys = [...this.keys.values()]
      .filter((k) => this.published(k, now))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))
      .map((k) => k.publicJwk);
    return { keys };
  }
}
