import { sql } from "kysely";
import { jsonArrayFrom as pgArray, jsonObjectFrom as pgObject } from "kysely/helpers/postgres";
import { jsonArrayFrom as sqliteArray, jsonObjectFrom as sqliteObject } from "kysely/helpers/sqlite";
import type { ResolvedKey } from "../../domain/keys/decide.js";
import type { Deps } from "../deps.js";
import type { RateLimitRule } from "../ratelimit/rate-limiter.js";
import type { UsageTally } from "../usage/usage-aggregator.js";
import { compiledQuery } from "../../store/compiled-query.js";
import { type BatchResults, LoadBatcher } from "./load-batcher.js";
import type { ApiKeysTable } from "../../store/schema.js";
import { type KeyContext, KeyResolver } from "../key-resolver.js";
import { secretTag } from "../tokens/token-service.js";
import type { CacheTags } from "./key-cache.js";

/** A resolved key as cached: with the instant its matched secret stops working, if any. */
export interface CachedKey {
  key: ResolvedKey;
  /** Epoch ms when a previous secret's grace period ends; null for the current secret. */
  graceEndsAt: number | null;
  /** The key's expiry as epoch ms (null = never). */
  expiresAtMs: number | null;
  /**
   * Decisions already made for this key: `plain` for a request with nothing but the key (the
   * usual one), `memo` by request shape for the others. `decide` depends on the clock only
   * through the key's expiry, which is checked before a memo is used; the memos go away with
   * the entry when anything about the key changes.
   */
  plain: SplitOutcome | null;
  memo: Map<string, SplitOutcome> | null;
  /** The key's usage tally, as last recorded through this entry (a lookup saved per use). */
  usage: UsageTally | null;
  /** Which secrets its tokens may have been bought with: on entries loaded by id (for tokens), else null. */
  secrets: TokenSecrets | null;
}

/** A key's secrets as its tokens name them ({@link secretTag}). */
export interface TokenSecrets {
  current: string;
  /** The previous secret while its grace period runs, and when that ends (epoch ms). */
  previous: string | null;
  previousEndsAtMs: number;
}

function tokenSecrets(row: ApiKeysTable): TokenSecrets {
  return {
    current: secretTag(row.secret_hash),
    previous: row.previous_hash ? secretTag(row.previous_hash) : null,
    previousEndsAtMs: row.previous_expires_at ? Date.parse(row.previous_expires_at) : 0,
  };
}

/** A decision split into the answer /v1/verify gives and the key's rate limit (applied after). */
export interface SplitOutcome {
  result: VerifyOutcome;
  rule: RateLimitRule | null;
}

/** A decision as /v1/verify returns it, before rate limiting. */
export type VerifyOutcome =
  | {
      valid: true;
      keyId: string;
      orgId: string;
      owner: { type: string; id: string };
      projectId: string | null;
      permissions: string[];
      expiresAt: string | null;
    }
  | { valid: false; code: string };

/** Shared by every key without project-scoped grants; never written to. */
const EMPTY_PROJECTS = new Map<string, Set<string>>();

export const cachedKeyTags = (v: CachedKey): CacheTags => ({
  keyId: v.key.id,
  orgId: v.key.orgId,
  principalId: v.key.owner.id,
});

/** A key row with its context's columns (JSON text on SQLite, parsed on PostgreSQL). */
type RowWithContext = ApiKeysTable & {
  ctx_org: unknown;
  ctx_roles: unknown;
  ctx_bindings: unknown;
  ctx_standing: unknown;
};

const parsed = <T>(v: unknown): T => (typeof v === "string" ? JSON.parse(v) : v) as T;

/** Keys one statement reads at most (PostgreSQL). */
const BATCH = 100;

/**
 * Reads keys for the cache by secret hash or by id (tokens name their key by id), each with
 * everything it resolves against in one statement compiled once, and resolves them with the
 * API-keys resolver. Keys missed together are read together ({@link LoadBatcher}).
 *
 * Before, a load ran three statements (two of them together), each built into SQL by Kysely
 * anew. Measured in-process, 20,000 keys, as many loads at once as were allowed
 * (bench/RESULTS.md): SQLite 36-57 µs of CPU per load instead of 105-125 (23,600-28,100
 * loads/s instead of 9,000-9,500), PostgreSQL 140-197 µs instead of 341-366 (2,800-3,300
 * instead of 2,000-2,200). The one statement built anew each time gained nothing on
 * PostgreSQL and lost on SQLite: building the SQL was the cost.
 */
export class KeyLoader {
  /** Keys read from the store, and the statements that read them (`/metrics`). */
  readonly stats = { keys: 0, statements: 0 };
  private readonly resolver: KeyResolver;
  private readonly hashes: LoadBatcher<CachedKey>;
  private readonly ids: LoadBatcher<CachedKey>;
  /** Keys with their context, by a list of one column's values (see {@link keysWhere}). */
  private readonly by: Record<"secretHash" | "previousHash" | "id", (values: string[]) => Promise<RowWithContext[]>>;

  constructor(private readonly deps: Deps) {
    this.resolver = new KeyResolver(deps);
    // PostgreSQL's pool has 10 connections: loads take at most 8 (keys by id are the rarer:
    // a token's key), leaving room for other requests; a batch saves a round trip and a
    // statement per key. SQLite has one connection and no round trip: its statement costs the
    // same per key alone or in a batch, and the HTTP cold pass was 7-15 % slower with batches
    // (bench/RESULTS.md), so it reads keys one at a time.
    const batched = deps.db.dialect === "postgres";
    const size = batched ? BATCH : 1;
    this.hashes = new LoadBatcher(batched ? 6 : 2, size, (hashes) => this.loadByHashes(hashes));
    this.ids = new LoadBatcher(batched ? 2 : 1, size, (ids) => this.loadByIds(ids));
    this.by = {
      secretHash: this.keysWhere("k.secret_hash", batched),
      previousHash: this.keysWhere("k.previous_hash", batched),
      id: this.keysWhere("k.id", batched),
    };
  }

  /** The key whose current (or grace-period previous) secret has this hash. */
  byHash(hash: string): Promise<CachedKey | null> {
    return this.hashes.load(hash);
  }

  byId(keyId: string): Promise<CachedKey | null> {
    return this.ids.load(keyId);
  }

  private async loadByHashes(hashes: string[]): Promise<BatchResults<CachedKey>> {
    this.stats.keys += hashes.length;
    const found: BatchResults<CachedKey> = new Map();
    for (const row of await this.by.secretHash(hashes)) {
      found.set(row.secret_hash, this.settle(row, "current", null));
    }
    // A hash no key has now may be a previous secret in its grace period.
    const rest = hashes.filter((h) => !found.has(h));
    if (rest.length === 0) return found;
    const now = this.deps.now().getTime();
    for (const row of await this.by.previousHash(rest)) {
      const ends = row.previous_expires_at ? Date.parse(row.previous_expires_at) : 0;
      if (row.previous_hash && ends > now) found.set(row.previous_hash, this.settle(row, "previous", ends));
    }
    return found;
  }

  private async loadByIds(ids: string[]): Promise<BatchResults<CachedKey>> {
    this.stats.keys += ids.length;
    const found: BatchResults<CachedKey> = new Map();
    for (const row of await this.by.id(ids)) found.set(row.id, this.settle(row, "current", null, tokenSecrets(row)));
    return found;
  }

  /** A row made into its cache entry; an error stays this key's, not its batch's. */
  private settle(
    row: RowWithContext,
    matched: ResolvedKey["matched"],
    graceEndsAt: number | null,
    secrets: TokenSecrets | null = null,
  ) {
    try {
      return this.wrap(this.resolve(row, matched), graceEndsAt, secrets);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /**
   * Keys with their context by one column's values, compiled once (see compiledQuery). Batched
   * (PostgreSQL), the values go as one parameter, a JSON array the database unpacks (an `in`
   * list would make a statement per list length), and each key is found through the column's
   * index; otherwise one value per statement.
   */
  private keysWhere(column: "k.secret_hash" | "k.previous_hash" | "k.id", batched: boolean) {
    const read = compiledQuery(
      () => this.deps.db.kysely,
      (value) =>
        this.withContext().where(
          batched
            ? sql<boolean>`${sql.ref(column)} in (select jsonb_array_elements_text(cast(${value} as jsonb)))`
            : sql<boolean>`${sql.ref(column)} = ${value}`,
        ),
    );
    return async (values: string[]) => {
      this.stats.statements++;
      return (await read(batched ? JSON.stringify(values) : values[0])) as RowWithContext[];
    };
  }

  /**
   * Key rows with their {@link KeyContext} as extra columns: the org and its custom roles, the
   * owner's bindings in the key's org (JSON, built by the database), and whether the owner
   * still stands there.
   */
  private withContext() {
    const pg = this.deps.db.dialect === "postgres";
    const [array, object] = pg ? [pgArray, pgObject] : [sqliteArray, sqliteObject];
    return this.deps.db.kysely
      .selectFrom("api_keys as k")
      .selectAll("k")
      .select((eb) => [
        object(
          eb
            .selectFrom("orgs")
            .select(["orgs.id", "orgs.is_operator", "orgs.settings"])
            .whereRef("orgs.id", "=", "k.org_id"),
        ).as("ctx_org"),
        array(
          eb.selectFrom("roles").select(["roles.id", "roles.permissions"]).whereRef("roles.org_id", "=", "k.org_id"),
        ).as("ctx_roles"),
        array(
          eb
            .selectFrom("bindings")
            .select(["bindings.role_id", "bindings.project_id"])
            .whereRef("bindings.org_id", "=", "k.org_id")
            .whereRef("bindings.principal_id", "=", "k.owner_id"),
        ).as("ctx_bindings"),
        // Whether the owner still stands in the key's org (the same SQL on both databases).
        sql<boolean>`case k.owner_type
          when 'user' then exists (select 1 from org_members m where m.org_id = k.org_id and m.user_id = k.owner_id)
          when 'service_account' then exists (select 1 from service_accounts s where s.org_id = k.org_id and s.id = k.owner_id)
          when 'project' then exists (select 1 from projects p where p.org_id = k.org_id and p.id = k.owner_id)
        end`.as("ctx_standing"),
      ]);
  }

  private resolve(row: RowWithContext, matched: ResolvedKey["matched"]): ResolvedKey | null {
    const ctx: KeyContext = {
      org: parsed(row.ctx_org),
      roles: parsed(row.ctx_roles),
      bindings: parsed(row.ctx_bindings),
      // PostgreSQL answers true or false; SQLite 1 or 0.
      standing: !!row.ctx_standing,
    };
    return this.resolver.resolve(row, ctx, matched);
  }

  /** Shared immutable parts of resolved keys, by content: 100,000 keys of one org share one copy. */
  private interned = new Map<string, unknown>();

  private intern<T>(id: string, value: T): T {
    const hit = this.interned.get(id);
    if (hit !== undefined) return hit as T;
    if (this.interned.size >= 20_000) this.interned.clear();
    this.interned.set(id, value);
    return value;
  }

  private setId = (kind: string, set: Set<string>) => `${kind}:${[...set].sort().join(" ")}`;

  private compact(key: ResolvedKey): ResolvedKey {
    const orgId = `org:${JSON.stringify(key.org)}|${key.orgAllowedIps.map((r) => r.text).join(",")}`;
    const shared = this.intern(orgId, { org: key.org, orgAllowedIps: key.orgAllowedIps });
    return {
      ...key,
      // One copy of the org's id and of each owner for all of their keys.
      orgId: shared.org.id,
      owner: this.intern(`owner:${key.owner.type}:${key.owner.id}`, key.owner),
      org: shared.org,
      orgAllowedIps: shared.orgAllowedIps,
      permissions: this.intern(this.setId("p", key.permissions), key.permissions),
      keyPermissions: key.keyPermissions && this.intern(this.setId("k", key.keyPermissions), key.keyPermissions),
      projectPermissions: key.projectPermissions.size === 0 ? EMPTY_PROJECTS : key.projectPermissions,
    };
  }

  private wrap(
    resolved: ResolvedKey | null,
    graceEndsAt: number | null,
    secrets: TokenSecrets | null,
  ): CachedKey | null {
    if (!resolved) return null;
    const key = this.compact(resolved);
    return {
      key,
      graceEndsAt,
      expiresAtMs: key.expiresAt ? Date.parse(key.expiresAt) : null,
      plain: null,
      memo: null,
      usage: null,
      secrets,
    };
  }
}
