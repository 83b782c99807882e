import { hash } from "node:crypto";
import { SignJWT, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import { randomBase62 } from "../../domain/ids.js";
import type { KeyOwnerType, ResolvedKey } from "../../domain/keys/decide.js";
import type { Deps } from "../deps.js";
import { SIGNING_ALG, SigningKeys } from "./signing-keys.js";

export const TOKEN_AUDIENCE = "keyward";
export const DEFAULT_TOKEN_TTL = 15 * 60;
export const MAX_TOKEN_TTL = 60 * 60;

/** Claims of an exchanged token. */
export interface TokenClaims {
  iss: string;
  /** The key's owner: usr_…, sa_… or prj_… */
  sub: string;
  owner_type: KeyOwnerType;
  aud: string;
  exp: number;
  iat: number;
  jti: string;
  org: string;
  key_id: string;
  /** Concrete permissions the token carries (never more than the key had when it was issued). */
  perms: string[];
  /** Projects the token may act in; null = any the key may. */
  projects: string[] | null;
  /**
   * The project a request naming none is placed in, when the key prefers one and the token acts
   * there (org-wide, or kept to it; a project key's is its own, `sub`): so an offline check
   * places it as Keyward would.
   */
  default_project?: string;
  /** Read-only: read actions and safe methods only. */
  ro: boolean;
  /**
   * The key's IP allow list (addresses and CIDRs), when it has one, and the org's: a request
   * must come from an address both admit, offline as at Keyward. Absent: any address.
   */
  ips?: string[];
  org_ips?: string[];
  /**
   * The secret the token was bought with ({@link secretTag} of its stored hash): the token
   * works while that secret does. Absent in tokens issued before it existed.
   */
  sec?: string;
}

/**
 * Names a key's secret in its tokens without revealing anything of it: 96 bits of a hash of
 * the secret's stored HMAC (itself one-way and peppered).
 */
export const secretTag = (secretHash: string) =>
  hash("sha256", `keyward-token:${secretHash}`, "base64url").slice(0, 16);

export interface IssuedToken {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  scope: string;
  claims: TokenClaims;
}

/** Outcome of checking a token's signature and lifetime. */
export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; reason: "malformed" | "expired" | "invalid" };

/** A JWT in compact form: three base64url parts, a JSON header first. */
export const looksLikeJwt = (s: string) => s.startsWith("eyJ") && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(s);

/**
 * Signs and checks exchanged tokens (EdDSA JWTs, `kid` in the header). Checked tokens are
 * cached by their text until they expire: signature checks are slow next to a map lookup.
 */
export class TokenService {
  readonly signingKeys: SigningKeys;
  /**
   * Checked tokens by their text, oldest first, bounded by count and by the characters of
   * text held: any key can mint tokens by the thousand, each several kilobytes when it
   * carries many permissions, and the cache must not grow with them.
   */
  private checked = new Map<string, TokenClaims>();
  private checkedChars = 0;
  private readonly maxChecked = 50_000;
  private readonly maxCheckedChars = 8_000_000;
  /** One array per distinct permission list (tokens of one key mostly share theirs). */
  private permLists = new Map<string, string[]>();

  constructor(
    private readonly deps: Deps,
    signingKeys?: SigningKeys,
  ) {
    this.signingKeys = signingKeys ?? new SigningKeys(deps, { maxTokenTtlSeconds: MAX_TOKEN_TTL });
  }

  /**
   * Issues a token for a key that was just verified with the secret whose stored hash is
   * `secretHash`. `perms` and `projects` must already be narrowed to what the key holds; `ttl`
   * is capped at one hour, at the key's own expiry and, for a previous secret, at the end of
   * its grace period: a token never outlives the secret that bought it.
   */
  async issue(
    key: ResolvedKey,
    grant: { perms: string[]; projects: string[] | null; ttl: number; secretHash: string },
  ): Promise<IssuedToken> {
    const nowS = Math.floor(this.deps.now().getTime() / 1000);
    let exp = nowS + Math.min(Math.max(grant.ttl, 1), MAX_TOKEN_TTL);
    if (key.expiresAt) exp = Math.min(exp, Math.floor(Date.parse(key.expiresAt) / 1000));
    if (key.matched === "previous" && key.graceEndsAt)
      exp = Math.min(exp, Math.floor(Date.parse(key.graceEndsAt) / 1000));
    const claims: TokenClaims = {
      iss: this.deps.config.publicUrl,
      sub: key.owner.id,
      owner_type: key.owner.type,
      aud: TOKEN_AUDIENCE,
      iat: nowS,
      exp,
      jti: `tok_${randomBase62(24)}`,
      org: key.orgId,
      key_id: key.id,
      perms: [...grant.perms].sort(),
      projects: grant.projects,
      ...(key.defaultProjectId && (grant.projects === null || grant.projects.includes(key.defaultProjectId))
        ? { default_project: key.defaultProjectId }
        : {}),
      ro: key.readOnly,
      ...(key.allowedIps.length > 0 ? { ips: key.allowedIps.map((r) => r.text) } : {}),
      ...(key.orgAllowedIps.length > 0 ? { org_ips: key.orgAllowedIps.map((r) => r.text) } : {}),
      sec: secretTag(grant.secretHash),
    };
    const { kid, key: privateKey } = await this.signingKeys.signer();
    const jwt = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: "JWT" })
      .sign(privateKey);
    return { access_token: jwt, token_type: "Bearer", expires_in: exp - nowS, scope: claims.perms.join(" "), claims };
  }

  /** Checks signature, issuer, audience and lifetime. */
  async check(token: string): Promise<TokenCheck> {
    const nowMs = this.deps.now().getTime();
    const hit = this.checked.get(token);
    if (hit) {
      if (hit.exp * 1000 > nowMs) return { ok: true, claims: hit };
      this.forget(token);
      return { ok: false, reason: "expired" };
    }
    if (!looksLikeJwt(token)) return { ok: false, reason: "malformed" };
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== SIGNING_ALG) return { ok: false, reason: "invalid" };
      kid = header.kid;
    } catch {
      return { ok: false, reason: "malformed" };
    }
    if (!kid) return { ok: false, reason: "invalid" };
    const publicKey = await this.signingKeys.publicKey(kid, issuedAt(token));
    if (!publicKey) return { ok: false, reason: "invalid" };
    try {
      const { payload } = await jwtVerify(token, publicKey, {
        algorithms: [SIGNING_ALG],
        issuer: this.deps.config.publicUrl,
        audience: TOKEN_AUDIENCE,
        currentDate: new Date(nowMs),
        requiredClaims: ["exp", "iat", "jti", "sub"],
      });
      const claims = payload as unknown as TokenClaims;
      if (typeof claims.key_id !== "string" || typeof claims.org !== "string" || !Array.isArray(claims.perms)) {
        return { ok: false, reason: "invalid" };
      }
      this.remember(token, claims);
      return { ok: true, claims };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired" };
      return { ok: false, reason: "invalid" };
    }
  }

  private remember(token: string, claims: TokenClaims) {
    const text = claims.perms.join(" ");
    let perms = this.permLists.get(text);
    if (!perms) {
      if (this.permLists.size >= 10_000) this.permLists.clear();
      perms = claims.perms;
      this.permLists.set(text, perms);
    }
    claims.perms = perms;
    // Checked by several requests at once (a client's first burst): held, and counted, once.
    if (this.checked.has(token)) return;
    while (
      this.checked.size > 0 &&
      (this.checked.size >= this.maxChecked || this.checkedChars + token.length > this.maxCheckedChars)
    ) {
      const oldest = this.checked.keys().next().value;
      if (oldest === undefined) break;
      this.forget(oldest);
    }
    this.checked.set(token, claims);
    this.checkedChars += token.length;
  }

  private forget(token: string) {
    if (this.checked.delete(token)) this.checkedChars -= token.length;
  }
}

/** A token's `iat` claim (seconds), unverified: only to tell whether its key may be new. */
function issuedAt(token: string): number | undefined {
  try {
    const iat = decodeJwt(token).iat;
    return typeof iat === "number" && Number.isFinite(iat) ? iat : undefined;
  } catch {
    return undefined;
  }
}
