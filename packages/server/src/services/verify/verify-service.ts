import { hash } from "node:crypto";
import type { KeySource } from "../key-auth.js";
import {
  type Decision,
  type DecideRequest,
  type ResolvedKey,
  MALFORMED,
  credentialDenial,
  decide,
  decideFromAnyAddress,
  refusedForAddress,
  keptProjects,
} from "../../domain/keys/decide.js";
import { hashSecret, isWellFormedSecretOf } from "../../domain/keys/secret.js";
import { looksLikeId } from "../../domain/ids.js";
import { AppError } from "../../domain/errors.js";
import { loadAccess, projectOrgId } from "../access.js";
import type { Actor, Deps } from "../deps.js";
import type { RateLimitRule, RateLimiter } from "../ratelimit/rate-limiter.js";
import { type TokenClaims, type TokenService, looksLikeJwt } from "../tokens/token-service.js";
import type { UsageAggregator } from "../usage/usage-aggregator.js";
import type { InvalidationBus } from "./invalidation.js";
import { type CacheTags, KeyCache, type KeyCacheOptions } from "./key-cache.js";
import {
  type CachedKey,
  KeyLoader,
  type SplitOutcome,
  type TokenSecrets,
  type VerifyOutcome,
  cachedKeyTags,
} from "./key-loader.js";

/** A verification request: `decide`'s, less what the service looks up itself. */
export interface VerifyInput extends Omit<DecideRequest, "projectOrgId"> {
  /** An API key secret or an exchanged token. */
  key: string;
}

/** A project's org, as the project cache holds it. */
interface ProjectOrg {
  projectId: string;
  orgId: string;
}

const projectTags = (p: ProjectOrg): CacheTags => ({ keyId: p.projectId, orgId: p.orgId, principalId: p.projectId });

export interface RateLimitView {
  limit: number;
  remaining: number;
  /** When the current window ends (ISO). */
  resetAt: string;
}

export type VerifyResult =
  | {
      valid: true;
      keyId: string;
      orgId: string;
      owner: { type: string; id: string };
      projectId: string | null;
      permissions: string[];
      expiresAt: string | null;
      ratelimit?: RateLimitView;
    }
  | { valid: false; code: string; ratelimit?: RateLimitView };

/** A token checked against its key's current state. */
export type TokenResolution =
  | { claims: TokenClaims; key: ResolvedKey }
  | { claims?: TokenClaims; code: "MALFORMED" | "NOT_FOUND" | "EXPIRED" };

const PERMISSION_PERMIT = "iam:apikeys:verify";

type Caller = Exclude<Actor, { kind: "anonymous" }>;

const callerId = (actor: Caller) => `${actor.kind}:${actor.id}:${actor.credential.type}:${actor.credential.id}`;

/** Whether a caller may verify, and what the answer depends on (see {@link VerifyService.mayVerify}). */
interface CallerCheck {
  allowed: boolean;
  tags: CacheTags;
}

const sha256 = (text: string) => hash("sha256", text, "base64");

/** A decision split into the answer (without the rule) and the key's rate-limit rule. */
function splitDecision(d: Decision): SplitOutcome {
  if (!d.valid) return { result: d, rule: null };
  const { ratelimit, ...result } = d;
  return { result, rule: ratelimit };
}

const NOT_FOUND_SPLIT = Object.freeze({
  result: Object.freeze({ valid: false as const, code: "NOT_FOUND" }),
  rule: null,
});
const IP_NOT_ALLOWED_SPLIT = Object.freeze({
  result: Object.freeze({ valid: false as const, code: "IP_NOT_ALLOWED" }),
  rule: null,
});

/** Whether the secret a token names is the key's current one, or its previous one in its grace period. */
function secretWorks(secrets: TokenSecrets | null, tag: string, nowMs: number): boolean {
  if (!secrets) return false;
  return tag === secrets.current || (tag === secrets.previous && nowMs < secrets.previousEndsAtMs);
}

const intersectSets = (a: Set<string>, b: Set<string>) => {
  const out = new Set<string>();
  for (const p of a) if (b.has(p)) out.add(p);
  return out;
};

/**
 * The verification hot path (DESIGN §6). Order: format and checksum (no I/O) -> HMAC ->
 * cache -> store. Warm, it does no database I/O at all: resolved keys are cached and
 * invalidated through the {@link InvalidationBus}, usage is aggregated in memory, rate limits
 * are counted in memory or Redis.
 */
export class VerifyService {
  readonly cache: KeyCache<CachedKey>;
  readonly loader: KeyLoader;
  private readonly prefixes: readonly string[];
  /**
   * Whether each caller may verify, by credential: a cache like the keys' own, so one check
   * serves a burst of a caller's first requests, a check that overlapped a change answers its
   * own requests but is not kept, and an answer goes when its credential, its principal or
   * the operator org changes.
   */
  readonly callers: KeyCache<CallerCheck>;
  /** Each caller's id by actor object (an API key's actor is made once per cached key). */
  private callerIds = new WeakMap<Actor, string>();
  /**
   * Credentials' stored hashes by a plain SHA-256 of the credential: the caller that presents
   * the same key on every request pays the pepper's HMAC once. Bounded; in memory only; for
   * credentials of Keyward's own API (a key being verified keeps the order format -> HMAC -> cache).
   */
  private credentialHashes = new Map<string, string>();
  private operatorOrgId: string | null = null;
  /**
   * Cached keys as narrowed by tokens, by the tokens' shape (permissions, projects, read-only):
   * the many tokens of one key share one, whatever their text (each one's end is set per use).
   * They go with the cached key object. A map by token text held one per token ever presented.
   */
  private narrowed = new WeakMap<CachedKey, Map<string, ResolvedKey>>();
  /** A number per permission list of tokens (TokenService keeps one array per list). */
  private permListIds = new WeakMap<string[], number>();
  private nextPermListId = 0;
  /**
   * The org of each project a request names (null: no such project), so a key is never
   * answered for another org's project. Dropped with its org's changes (a project's deletion
   * is one).
   */
  readonly projects: KeyCache<ProjectOrg>;
  /** Cache loaders, made once (a closure per lookup would cost every verification). */
  private readonly loadByHash = (hash: string) => this.loader.byHash(hash);
  private readonly loadProject = async (projectId: string): Promise<ProjectOrg | null> => {
    const orgId = await projectOrgId(this.deps, projectId);
    return orgId === null ? null : { projectId, orgId };
  };
  private readonly loadById = (cacheId: string) => this.loader.byId(cacheId.slice("id:".length));

  constructor(
    private readonly deps: Deps,
    readonly bus: InvalidationBus,
    readonly rateLimiter: RateLimiter,
    readonly usage: UsageAggregator,
    readonly tokens: TokenService,
    cacheOptions: Partial<KeyCacheOptions> = {},
  ) {
    this.loader = new KeyLoader(deps);
    this.prefixes = deps.config.keyPrefixes;
    this.cache = new KeyCache(bus, cachedKeyTags, cacheOptions);
    const small = { maxEntries: 10_000, ...(cacheOptions.clock ? { clock: cacheOptions.clock } : {}) };
    this.callers = new KeyCache(bus, (c) => c.tags, small);
    this.projects = new KeyCache(bus, projectTags, small);
  }

  /** The org a project belongs to (null: no such project), from the cache when it can. */
  projectOrg(projectId: string): string | null | Promise<string | null> {
    // Text no project id has (a NUL, say, which PostgreSQL refuses to compare) names none.
    if (!looksLikeId("prj", projectId)) return null;
    const p = this.projects.get(projectId, this.loadProject);
    return p instanceof Promise ? p.then((v) => v?.orgId ?? null) : (p?.orgId ?? null);
  }

  /**
   * `decide` for a key not held in the cache's memo (a token's, a token exchange's): the project
   * the request names is placed in its org first, as decide requires.
   */
  async decidePlaced(key: ResolvedKey | null, req: Omit<DecideRequest, "projectOrgId">, now: Date): Promise<Decision> {
    const projectOrgId = key && req.projectId ? await this.projectOrg(req.projectId) : null;
    return decide(key, { ...req, projectOrgId }, now);
  }

  /** Resolves a credential of Keyward's own API: format and checksum first (no I/O), then its hash, cache, store. */
  resolveSecret(secret: string): Promise<CachedKey | null> | CachedKey | null {
    if (!isWellFormedSecretOf(secret, this.prefixes)) return null;
    return this.cache.get(this.secretHash(secret), this.loadByHash);
  }

  /** A secret's stored (peppered) HMAC, remembered for the credentials seen lately. */
  secretHash(secret: string): string {
    const quick = sha256(secret);
    let hash = this.credentialHashes.get(quick);
    if (hash === undefined) {
      hash = hashSecret(secret, this.deps.pepper);
      if (this.credentialHashes.size >= 10_000) this.credentialHashes.clear();
      this.credentialHashes.set(quick, hash);
    }
    return hash;
  }

  /** Resolves a key by id (for tokens), through the same cache. */
  resolveId(keyId: string): Promise<CachedKey | null> | CachedKey | null {
    return this.cache.get(`id:${keyId}`, this.loadById);
  }

  /** A token's claims and its key narrowed to the token, or why it is not valid. */
  async resolveToken(token: string): Promise<TokenResolution> {
    const check = await this.tokens.check(token);
    if (!check.ok)
      return {
        code: check.reason === "expired" ? "EXPIRED" : check.reason === "malformed" ? "MALFORMED" : "NOT_FOUND",
      };
    const { claims } = check;
    const base = await this.resolveId(claims.key_id);
    if (!base || base.key.orgId !== claims.org) return { claims, code: "NOT_FOUND" };
    // The secret it was bought with must still work: a regenerate ends its tokens with it.
    if (claims.sec !== undefined && !secretWorks(base.secrets, claims.sec, this.deps.now().getTime()))
      return { claims, code: "NOT_FOUND" };
    // Bought with the previous secret: the token ends with that secret's grace, if not before.
    const secretEndsAtMs =
      claims.sec !== undefined && base.secrets && claims.sec !== base.secrets.current
        ? base.secrets.previousEndsAtMs
        : null;
    const key = { ...this.narrowedTo(base, claims), expiresAt: tokenEnd(base.key, claims, secretEndsAtMs) };
    return { claims, key };
  }

  /** The cached key as tokens of this one's shape narrow it (its expiry still the key's). */
  private narrowedTo(base: CachedKey, claims: TokenClaims): ResolvedKey {
    let list = this.permListIds.get(claims.perms);
    if (list === undefined) {
      list = this.nextPermListId++;
      this.permListIds.set(claims.perms, list);
    }
    const shape = `${list}|${claims.ro === true}|${claims.projects?.join(",") ?? "*"}`;
    let byShape = this.narrowed.get(base);
    if (!byShape) {
      byShape = new Map();
      this.narrowed.set(base, byShape);
    }
    let key = byShape.get(shape);
    if (!key) {
      if (byShape.size >= 256) byShape.clear();
      key = narrowToClaims(base.key, claims);
      byShape.set(shape, key);
    }
    return key;
  }

  /**
   * Verifies a key or token for a request. Never throws for a bad key: the answer says why.
   * A warm key without a rate limit is answered synchronously (no promise on the hot path).
   */
  verify(input: VerifyInput): VerifyResult | Promise<VerifyResult> {
    if (looksLikeJwt(input.key)) return this.verifyToken(input);
    if (!isWellFormedSecretOf(input.key, this.prefixes)) return MALFORMED as VerifyResult;
    const now = this.deps.now();
    const hit = this.cache.get(hashSecret(input.key, this.deps.pepper), this.loadByHash);
    if (hit instanceof Promise) return hit.then((entry) => this.decided(entry, input, now));
    return this.decided(hit, input, now);
  }

  /** The answer for a key's cache entry (null: no such key), once the project the request names is placed. */
  private decided(entry: CachedKey | null, input: VerifyInput, now: Date): VerifyResult | Promise<VerifyResult> {
    if (!entry || !input.projectId) return this.answer(this.decideMemo(entry, input, now, null), input, now, entry);
    const org = this.projectOrg(input.projectId);
    if (org instanceof Promise)
      return org.then((o) => this.answer(this.decideMemo(entry, input, now, o), input, now, entry));
    return this.answer(this.decideMemo(entry, input, now, org), input, now, entry);
  }

  private async verifyToken(input: VerifyInput): Promise<VerifyResult> {
    const now = this.deps.now();
    const t = await this.resolveToken(input.key);
    const d: Decision = "key" in t ? await this.decidePlaced(t.key, input, now) : { valid: false, code: t.code };
    return this.answer(splitDecision(d), input, now);
  }

  /**
   * The answer for a decision: rate limit (when the key has one), then the use is counted
   * (on the cached entry's tally when there is one).
   */
  private answer(
    { result, rule }: SplitOutcome,
    input: VerifyInput,
    now: Date,
    entry: CachedKey | null = null,
  ): VerifyResult | Promise<VerifyResult> {
    if (!result.valid) return result;
    if (rule) return this.rateLimited(result, rule, input, now, entry);
    this.recordUse(result.keyId, input, now, entry);
    return result;
  }

  private recordUse(keyId: string, input: VerifyInput, now: Date, entry: CachedKey | null) {
    const tally = this.usage.record(keyId, input.ip ?? null, now.getTime(), entry?.usage);
    if (entry) entry.usage = tally;
  }

  private async rateLimited(
    result: Extract<VerifyOutcome, { valid: true }>,
    rule: RateLimitRule,
    input: VerifyInput,
    now: Date,
    entry: CachedKey | null,
  ): Promise<VerifyResult> {
    const r = await this.rateLimiter.consume(result.keyId, rule, now.getTime());
    const ratelimit = { limit: r.limit, remaining: r.remaining, resetAt: new Date(r.resetAt).toISOString() };
    if (!r.allowed) return { valid: false, code: "RATE_LIMITED", ratelimit };
    this.recordUse(result.keyId, input, now, entry);
    return { ...result, ratelimit };
  }

  /**
   * `decide` for a cached key, reusing the answer for a request of the same shape.
   * `projectOrgId`: the org of the project the request names (see DecideRequest); a project's
   * org never changes, and its deletion drops the org's keys with their memos.
   */
  private decideMemo(entry: CachedKey | null, input: VerifyInput, now: Date, projectOrgId: string | null) {
    if (!entry) return NOT_FOUND_SPLIT;
    const nowMs = now.getTime();
    if (entry.graceEndsAt !== null && entry.graceEndsAt <= nowMs) return NOT_FOUND_SPLIT;
    // Past its expiry the key's answer changes: no memo (decide says EXPIRED).
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= nowMs) return splitDecision(decide(entry.key, input, now));
    // Remembered without the client's address, which is judged on every call: a memo per
    // address (every client of a busy key) cost many times the key's own memory.
    const ip = input.ip ?? null;
    if (!(input.permissions || input.projectId || input.method)) {
      entry.plain ??= splitDecision(decideFromAnyAddress(entry.key, input, now));
      return this.fromAddress(entry.plain, entry, ip);
    }
    // JSON: no value can run into the next (a "|"-joined shape let two requests share one).
    const shape = JSON.stringify([input.projectId, input.method, input.permissions]);
    let memo = entry.memo;
    let split = memo?.get(shape);
    if (!split) {
      split = splitDecision(decideFromAnyAddress(entry.key, { ...input, projectOrgId }, now));
      if (!memo) memo = entry.memo = new Map();
      // Bounded: many distinct shapes just recompute.
      if (memo.size >= 32) memo.clear();
      memo.set(shape, split);
    }
    return this.fromAddress(split, entry, ip);
  }

  /** A remembered decision, for a request from `ip`. */
  private fromAddress(split: SplitOutcome, entry: CachedKey, ip: string | null): SplitOutcome {
    if (entry.key.allowedIps.length === 0 && entry.key.orgAllowedIps.length === 0) return split;
    return refusedForAddress(split.result, entry.key, ip) ? IP_NOT_ALLOWED_SPLIT : split;
  }

  /** The operator org's id (the org with is_operator = 1); it never changes once made. */
  private async operatorOrg(): Promise<string | null> {
    if (this.operatorOrgId) return this.operatorOrgId;
    const row = await this.deps.db.kysely
      .selectFrom("orgs")
      .select("id")
      .where("is_operator", "=", 1)
      .executeTakeFirst();
    this.operatorOrgId = row?.id ?? null;
    return this.operatorOrgId;
  }

  /**
   * May this caller use /v1/verify? It needs iam:apikeys:verify in the operator org (a
   * platform permission no other org can grant). Answers are cached per credential and
   * dropped when the credential's key, the caller's grants in the operator org or that org
   * changes, under the same freshness bound as keys. A check the store could not answer
   * rejects (and is not kept): the caller is told to retry, not refused.
   */
  mayVerify(actor: Actor): boolean | Promise<boolean> {
    if (actor.kind === "anonymous") return false;
    let id = this.callerIds.get(actor);
    if (id === undefined) {
      id = callerId(actor);
      this.callerIds.set(actor, id);
    }
    const hit = this.callers.hit(id);
    if (hit) return hit.allowed;
    const check = this.callers.get(id, () => this.checkCaller(actor));
    return check instanceof Promise ? check.then((c) => c?.allowed === true) : check?.allowed === true;
  }

  private async checkCaller(actor: Caller): Promise<CallerCheck> {
    const orgId = await this.operatorOrg();
    // The caller's key: for a token, the key it was exchanged from.
    const keyId = actor.credential.keyId ?? actor.credential.id;
    const tags = { keyId, orgId: orgId ?? "", principalId: actor.id };
    if (!orgId) return { allowed: false, tags };
    try {
      return { allowed: (await loadAccess(this.deps, actor, orgId)).can(PERMISSION_PERMIT), tags };
    } catch (err) {
      // Not a member of the operator org (404) and the like: an answer. Anything else: no answer.
      if (err instanceof AppError) return { allowed: false, tags };
      throw err;
    }
  }

  /**
   * The actor an exchanged token acts as on Keyward's own API, or null when `token` is not a
   * JWT (another resolver's kind). A bad, expired or revoked token throws 401.
   */
  async tokenActor(token: string, ip: string | null): Promise<Actor | null> {
    if (!looksLikeJwt(token)) return null;
    const t = await this.resolveToken(token);
    if (!("key" in t)) throw new AppError("UNAUTHENTICATED", `Token rejected (${t.code})`);
    // Permissions and projects are enforced per route through the actor's limit (403).
    const now = this.deps.now();
    const denied = credentialDenial(t.key, ip, now);
    if (denied !== null) throw new AppError("UNAUTHENTICATED", `Token rejected (${denied})`);
    const { key, claims } = t;
    // A token used on Keyward's own API is a use of its key, as the key's own use is.
    this.usage.record(key.id, ip, now.getTime());
    const perms = new Set(claims.perms);
    if (key.keyPermissions) for (const p of perms) if (!key.keyPermissions.has(p)) perms.delete(p);
    return {
      kind: key.owner.type,
      id: key.owner.id,
      credential: { type: "token", id: claims.jti, keyId: key.id },
      limit: {
        orgId: key.orgId,
        permissions: perms,
        readOnly: key.readOnly,
        projects: keptProjects(key),
      },
    };
  }

  /** Starts cross-node invalidation, the rate limiter's store and the usage flush timer. */
  async start(): Promise<void> {
    await Promise.all([this.bus.start(), this.rateLimiter.start()]);
    this.usage.start();
  }

  /** Flushes usage and stops everything (before the database closes). */
  async close(): Promise<void> {
    await this.usage.close();
    await Promise.all([this.bus.close(), this.rateLimiter.close()]);
    this.callers.close();
    this.projects.close();
    this.cache.close();
  }

  /**
   * A `KeySource` for the API-key bearer resolver (services/key-auth.ts): the same cache, so
   * Keyward's own API authenticates keys without database reads when warm.
   */
  keySource(): KeySource {
    // A previous secret past its grace period is refused by the bearer's credentialDenial
    // (the resolved key says which secret matched and until when), so no check here.
    const keyOf = (entry: CachedKey | null) => entry?.key ?? null;
    return {
      recordUse: (keyId, ip, nowMs) => this.usage.record(keyId, ip, nowMs),
      resolve: (secret) => {
        const hit = this.resolveSecret(secret);
        return hit instanceof Promise ? hit.then(keyOf) : keyOf(hit);
      },
    };
  }
}

/**
 * A key as a token from it may use it: the token's permissions, projects and read-only flag on
 * top. Its expiry is set apart ({@link tokenEnd}).
 */
function narrowToClaims(key: ResolvedKey, claims: TokenClaims): ResolvedKey {
  const perms = new Set(claims.perms);
  const projectPermissions = new Map<string, Set<string>>();
  for (const [id, set] of key.projectPermissions) projectPermissions.set(id, intersectSets(set, perms));
  let allowedProjects = key.allowedProjects;
  if (claims.projects)
    allowedProjects = allowedProjects ? allowedProjects.filter((p) => claims.projects?.includes(p)) : claims.projects;
  return {
    ...key,
    permissions: intersectSets(key.permissions, perms),
    projectPermissions,
    allowedProjects,
    readOnly: key.readOnly || claims.ro === true,
  };
}

/**
 * When a token stops: the earliest of its key's expiry, its own and, for a token bought with a
 * secret in its grace period, that grace's end; so an answer says how long the token, not its
 * key, may be trusted.
 */
function tokenEnd(key: ResolvedKey, claims: TokenClaims, secretEndsAtMs: number | null): string {
  const tokenEndsMs = Math.min(claims.exp * 1000, secretEndsAtMs ?? Number.POSITIVE_INFINITY);
  return key.expiresAt !== null && Date.parse(key.expiresAt) <= tokenEndsMs
    ? key.expiresAt
    : new Date(tokenEndsMs).toISOString();
}
