import { createHash } from "node:crypto";
import { type JWTPayload, decodeJwt, errors as joseErrors, jwtVerify } from "jose";
import { SigningKeys } from "./signing-keys.js";
import { KeywardError } from "./errors.js";
import { forwardedAddress, ipAdmitted } from "./ip-lists.js";
import { allPermitted, isReadPermission } from "./permissions.js";

/** Why a key was refused, as `POST /v1/verify` says; `INVALID_TOKEN` is an exchanged token that failed its offline check. */
export type VerifyDenyCode =
  | "MALFORMED"
  | "NOT_FOUND"
  | "EXPIRED"
  | "DISABLED"
  | "IP_NOT_ALLOWED"
  | "PROJECT_NOT_ALLOWED"
  | "READ_ONLY"
  | "INSUFFICIENT_PERMISSIONS"
  | "RATE_LIMITED"
  | "OWNER_INACTIVE"
  | "INVALID_TOKEN";

export interface VerifiedKey {
  valid: true;
  keyId: string;
  orgId: string;
  owner: { type: string; id: string };
  /** Effective permissions (concrete names; a token may carry patterns). Frozen, as the whole answer is. */
  permissions: readonly string[];
  expiresAt: string | null;
  /** Project the decision applies to, when the server says. */
  projectId?: string | null;
  /** The key's rate-limit window, when it has a limit (such answers are never cached). */
  ratelimit?: RateLimitState;
  /** `api`: answered by POST /v1/verify (keys, and tokens by default); `token`: an exchanged JWT checked offline. */
  source: "api" | "token";
}

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** End of the current window: retry after this. */
  resetAt: string;
}

export type VerifyResult = VerifiedKey | { valid: false; code: VerifyDenyCode; ratelimit?: RateLimitState };

export interface VerifyRequest {
  /** Every one of these must be held. */
  permissions?: string[];
  projectId?: string;
  /**
   * The client's address, checked against the key's and org's allow lists. A port or brackets a
   * proxy wrote (`203.0.113.7:50312`) are dropped; text that is no address is not sent, so an
   * allow-listed key is refused and any other passes.
   */
  ip?: string;
  /** The HTTP method of the protected request (read-only keys may only read). */
  method?: string;
}

export interface VerifierOptions {
  /** Keyward's base URL, e.g. `http://keyward:8080`. */
  baseUrl: string;
  /**
   * The platform service's own credential, holding `iam:apikeys:verify` in the operator org.
   * Needed for POST /v1/verify: for keys, and for tokens unless they are checked offline.
   */
  rootKey?: string;
  /**
   * How long a positive answer is reused, in ms (default 10 000; 0 = never cache). Refusals,
   * and answers for keys with a rate limit, are never cached. A key disabled or deleted in
   * Keyward may keep passing here for up to this long.
   */
  cacheTtlMs?: number;
  /** Most answers kept: a number from 0 up (default 10 000; oldest go first; `Infinity`: no bound). */
  cacheMax?: number;
  /**
   * Exchanged tokens (JWTs from POST /v1/token). By default they go to POST /v1/verify like
   * keys, which checks all Keyward knows: whether the key (and the secret the token was bought
   * with) still works, its IP allow list and rate limit, and that a project belongs to the
   * token's organization.
   *
   * `{ offline: true }` (or `true`) checks them here instead, against `/.well-known/jwks.json`
   * (fetched once and cached by jose): no request per token, but only what the token itself
   * says: signature, audience, expiry, the key's and the org's IP allow lists it carries,
   * permissions, projects, read-only. Offline, a token keeps passing after its key is disabled
   * or regenerated (until it expires: at most an hour) and past its rate limit; and an org-wide
   * token is refused for a named project other than its key's preferred one (which org a project
   * belongs to is not known here: exchange the key for that project). A JWKS that cannot be
   * fetched is an error (the middleware answers 503).
   */
  tokens?:
    | boolean
    | {
        offline?: boolean;
        jwksUrl?: string;
        /** Expected `iss` (Keyward's KEYWARD_PUBLIC_URL); not checked unless given. */
        issuer?: string;
        /** Expected `aud`; default `keyward`. */
        audience?: string;
      };
  /** How long a call to Keyward may take, in ms (default 5 000); past it the verification throws. */
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** True when `credential` looks like an exchanged token (a compact JWS) rather than an API key. */
export const looksLikeToken = (credential: string) => JWT_SHAPE.test(credential) && credential.startsWith("eyJ");

/** Errors that say the token itself is bad; any other (a JWKS that cannot be fetched, a timeout) is no answer. */
const BAD_TOKEN = [
  joseErrors.JWSInvalid,
  joseErrors.JWTInvalid,
  joseErrors.JWSSignatureVerificationFailed,
  joseErrors.JWTClaimValidationFailed,
  joseErrors.JOSEAlgNotAllowed,
  joseErrors.JOSENotSupported,
  joseErrors.JWKSNoMatchingKey,
  joseErrors.JWKSMultipleMatchingKeys,
];

/**
 * Verifies API keys and exchanged tokens through POST /v1/verify (cached), or tokens offline
 * against the JWKS (see {@link VerifierOptions.tokens}).
 *
 * @example
 * const verifier = createVerifier({ baseUrl: "http://keyward:8080", rootKey: process.env.KEYWARD_ROOT_KEY });
 * const result = await verifier.verify(key, { permissions: ["compute:read"] });
 * if (!result.valid) console.log(result.code);
 */
export class Verifier {
  readonly baseUrl: string;
  // An ES private field: the rootKey never shows when the verifier is logged or serialised.
  readonly #opts: VerifierOptions;
  private readonly cache = new Map<string, { until: number; result: VerifiedKey }>();
  /** Questions asked of Keyward and not answered yet, by cache key: a burst of one question asks once. */
  private readonly inflight = new Map<string, Promise<VerifyResult>>();
  /** Questions whose answers said the key has a rate limit, until when they go straight to Keyward. */
  private readonly limited = new Map<string, number>();
  /** Bumped by clearCache: an answer to a question asked before it is not kept. */
  private generation = 0;
  /** One frozen array per permission list answered: a key's answers for many clients share it. */
  private readonly permLists = new Map<string, readonly string[]>();
  private signingKeys?: SigningKeys;

  constructor(opts: VerifierOptions) {
    this.#opts = opts;
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    // With neither, every request would be answered 503 as if Keyward were down.
    if (!opts.rootKey && !this.offlineTokens) {
      throw new Error(
        "createVerifier: rootKey is required (a credential holding iam:apikeys:verify), or tokens: { offline: true }",
      );
    }
  }

  private get ttl() {
    return this.#opts.cacheTtlMs ?? 10_000;
  }

  /** Forgets every cached answer, and every answer still on its way. */
  clearCache(): void {
    this.cache.clear();
    this.inflight.clear();
    this.limited.clear();
    this.generation++;
  }

  /** `cacheMax`, when it is a number from 0 up (Infinity: no bound); otherwise the default. */
  private get cacheMax() {
    const max = this.#opts.cacheMax;
    return typeof max === "number" && max >= 0 ? max : 10_000;
  }

  private get offlineTokens(): boolean {
    const t = this.#opts.tokens;
    return t === true || (typeof t === "object" && t.offline === true);
  }

  /**
   * The answer for a key or token and a request. Every answer is frozen, `owner`,
   * `permissions` and `ratelimit` too (cached ones are shared between requests): a handler
   * that wants to add to the permissions copies them first.
   */
  async verify(credential: string, req: VerifyRequest = {}): Promise<VerifyResult> {
    // The address as Keyward reads one (a proxy's port dropped), or none: what could not be
    // read would make Keyward answer 400, and an allow list admits no unknown address anyway.
    const ip = req.ip === undefined ? undefined : (forwardedAddress(req.ip) ?? undefined);
    const result = await this.answer(credential, ip === req.ip ? req : { ...req, ip });
    if (result.valid) Object.freeze(result.owner);
    if (result.ratelimit) Object.freeze(result.ratelimit);
    if (result.valid) Object.freeze(result.permissions);
    return Object.freeze(result);
  }

  private async answer(credential: string, req: VerifyRequest): Promise<VerifyResult> {
    const token = looksLikeToken(credential);
    if (token && this.offlineTokens) return this.verifyToken(credential, req);
    // A verifier for offline tokens only (no rootKey) knows no other credential: a refusal,
    // not an outage anyone could provoke.
    if (!this.#opts.rootKey && this.offlineTokens) return { valid: false, code: "NOT_FOUND" };
    const cacheKey = this.ttl > 0 ? hashRequest(credential, req) : "";
    if (!cacheKey) return this.verifyRemote(credential, req);
    const hit = this.cache.get(cacheKey);
    if (hit && hit.until > Date.now()) return hit.result;
    if (hit) this.cache.delete(cacheKey);
    // A rate-limited key's question is asked every time (each use is Keyward's to count), and
    // without waiting on another: once an answer said the key has a limit, for as long as an
    // answer would be cached.
    const limitedUntil = this.limited.get(cacheKey);
    if (limitedUntil !== undefined && limitedUntil > Date.now()) return this.verifyRemote(credential, req);
    const asked = this.inflight.get(cacheKey);
    if (asked) {
      // The same question, asked a moment ago: its answer, a refusal too, or its failure (the
      // same question gets no other answer in the same moment); a rate-limited key's answer is
      // the one that asked, so this one asks too.
      const shared = await asked;
      if (!shared.ratelimit) return shared;
      return this.verifyRemote(credential, req);
    }
    const answer = this.ask(cacheKey, credential, req, token);
    this.inflight.set(cacheKey, answer);
    try {
      return await answer;
    } finally {
      if (this.inflight.get(cacheKey) === answer) this.inflight.delete(cacheKey);
    }
  }

  /** Asks Keyward, and keeps a positive answer for at most `cacheTtlMs` from when it was asked. */
  private async ask(cacheKey: string, credential: string, req: VerifyRequest, token: boolean): Promise<VerifyResult> {
    const askedAt = Date.now();
    const generation = this.generation;
    const result = await this.verifyRemote(credential, req);
    // Keys with a rate limit are asked every time, so the limit holds (and their answers are
    // each request's own).
    if (result.ratelimit) {
      if (this.limited.size >= 10_000) this.limited.clear();
      this.limited.set(cacheKey, Date.now() + this.ttl);
      return result;
    }
    // A refusal is not kept, but the requests waiting on this question share it: frozen.
    if (!result.valid) return Object.freeze(result);
    // Frozen: every request answered from the cache, or waiting on this question, gets this
    // object; none may change it for the next. Its permissions are one array per list,
    // however many clients' answers hold it.
    const text = result.permissions.join(" ");
    let permissions = this.permLists.get(text);
    if (!permissions) {
      if (this.permLists.size >= 10_000) this.permLists.clear();
      permissions = Object.freeze(result.permissions);
      this.permLists.set(text, permissions);
    }
    const kept = Object.freeze({ ...result, owner: Object.freeze(result.owner), permissions }) as VerifiedKey;
    // An answer to a question asked before clearCache() is not kept.
    if (generation !== this.generation) return kept;
    // Never cache past the key's own expiry, nor a token's.
    let exp = result.expiresAt ? Date.parse(result.expiresAt) : Number.POSITIVE_INFINITY;
    if (token) exp = Math.min(exp, tokenExpiry(credential));
    this.cache.set(cacheKey, { until: Math.min(askedAt + this.ttl, exp), result: kept });
    while (this.cache.size > this.cacheMax) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    return kept;
  }

  private async verifyRemote(key: string, req: VerifyRequest): Promise<VerifyResult> {
    if (!this.#opts.rootKey) throw new Error("Verifier: rootKey is required to verify API keys");
    const body: Record<string, unknown> = { key };
    if (req.permissions?.length) body.permissions = req.permissions;
    if (req.projectId) body.projectId = req.projectId;
    if (req.ip) body.ip = req.ip;
    if (req.method) body.method = req.method;
    const res = await (this.#opts.fetch ?? fetch)(`${this.baseUrl}/v1/verify`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${this.#opts.rootKey}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.#opts.timeoutMs ?? 5_000),
    });
    if (!res.ok) throw await KeywardError.fromResponse(res);
    const data = (await res.json()) as Record<string, unknown>;
    const ratelimit = data.ratelimit ? { ratelimit: data.ratelimit as RateLimitState } : {};
    if (data.valid !== true) return { valid: false, code: String(data.code) as VerifyDenyCode, ...ratelimit };
    return {
      valid: true,
      keyId: String(data.keyId),
      orgId: String(data.orgId),
      owner: data.owner as VerifiedKey["owner"],
      permissions: (data.permissions as string[]) ?? [],
      expiresAt: (data.expiresAt as string | null) ?? null,
      ...(data.projectId !== undefined ? { projectId: data.projectId as string | null } : {}),
      ...ratelimit,
      source: "api",
    };
  }

  private async verifyToken(token: string, req: VerifyRequest): Promise<VerifyResult> {
    const t = typeof this.#opts.tokens === "object" ? this.#opts.tokens : {};
    this.signingKeys ??= new SigningKeys(
      new URL(t.jwksUrl ?? `${this.baseUrl}/.well-known/jwks.json`),
      this.#opts.timeoutMs ?? 5_000,
      this.#opts.fetch,
    );
    const keys = this.signingKeys;
    const check = () =>
      jwtVerify(token, keys.getKey, {
        algorithms: ["EdDSA"], // all Keyward signs with
        audience: t.audience ?? "keyward",
        requiredClaims: ["exp"],
        ...(t.issuer ? { issuer: t.issuer } : {}),
      });
    let claims: JWTPayload;
    try {
      await keys.ready();
      const checkedAt = Date.now();
      try {
        ({ payload: claims } = await check());
      } catch (err) {
        // A key Keyward began signing with after the last fetch: fetched again at once.
        if (!(err instanceof joseErrors.JWKSNoMatchingKey) || !(await keys.renewForUnknownKid(checkedAt))) throw err;
        ({ payload: claims } = await check());
      }
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { valid: false, code: "EXPIRED" };
      if (BAD_TOKEN.some((bad) => err instanceof bad)) return { valid: false, code: "INVALID_TOKEN" };
      throw err; // no answer: the JWKS could not be fetched, or timed out
    }
    // Claims of Keyward's exchanged tokens: sub + owner_type, org, key_id, perms, projects, ro,
    // and the key's and the org's IP allow lists when they have them (ips, org_ips).
    const c = claims as Record<string, unknown>;
    if (typeof c.key_id !== "string" || typeof c.org !== "string") return { valid: false, code: "INVALID_TOKEN" };
    if (!ipAdmitted(c.ips, req.ip) || !ipAdmitted(c.org_ips, req.ip)) return { valid: false, code: "IP_NOT_ALLOWED" };
    const permissions = Array.isArray(c.perms)
      ? (c.perms as string[])
      : typeof c.scope === "string"
        ? c.scope.split(" ").filter(Boolean)
        : [];
    // Only the token's own projects can be checked here: an org-wide token (projects null) is
    // refused for a named project, whose org is not known offline, but its key's preferred one
    // (`default_project`, where its permissions were worked out). A token kept to projects acts
    // only in one the request names, as Keyward decides (a request naming none is org-wide),
    // or, naming none, in the project its key prefers (`default_project`) or a project key's own.
    const projects = Array.isArray(c.projects) ? (c.projects as string[]) : null;
    const ownProject = c.owner_type === "project" || claims.sub?.startsWith("prj_") ? claims.sub : undefined;
    const preferred = typeof c.default_project === "string" ? c.default_project : undefined;
    const projectId = req.projectId ?? ownProject ?? preferred;
    // An org-wide token of a key that prefers a project acts there too: its permissions were
    // worked out there when it was exchanged.
    if (projects ? !projectId || !projects.includes(projectId) : req.projectId && req.projectId !== preferred) {
      return { valid: false, code: "PROJECT_NOT_ALLOWED" };
    }
    // As Keyward judges it: a read-only token makes no request that writes (methods are
    // case-sensitive, RFC 9110 §9.1) nor one that needs a permission that is not a read.
    if (
      c.ro === true &&
      ((req.method !== undefined && !SAFE_METHODS.has(req.method)) ||
        req.permissions?.some((p) => !isReadPermission(p)))
    ) {
      return { valid: false, code: "READ_ONLY" };
    }
    if (req.permissions?.length && !allPermitted(permissions, req.permissions)) {
      return { valid: false, code: "INSUFFICIENT_PERMISSIONS" };
    }
    return {
      valid: true,
      keyId: c.key_id,
      orgId: c.org,
      owner: { type: typeof c.owner_type === "string" ? c.owner_type : ownerType(claims.sub), id: claims.sub ?? "" },
      permissions,
      expiresAt: claims.exp ? new Date(claims.exp * 1000).toISOString() : null,
      projectId: projectId ?? null,
      source: "token",
    };
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function ownerType(sub: string | undefined): string {
  if (sub?.startsWith("usr_")) return "user";
  if (sub?.startsWith("sa_")) return "service_account";
  if (sub?.startsWith("prj_")) return "project";
  return "unknown";
}

/** A token's own expiry (epoch ms), read without checking it (the answer it is cached with was checked). */
function tokenExpiry(token: string): number {
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === "number" ? exp * 1000 : Number.POSITIVE_INFINITY;
  } catch {
    return 0;
  }
}

function hashRequest(credential: string, req: VerifyRequest): string {
  const perms = req.permissions ? [...req.permissions].sort() : [];
  return createHash("sha256")
    .update(JSON.stringify([credential, perms, req.projectId ?? null, req.ip ?? null, req.method ?? null]))
    .digest("base64url");
}

export const createVerifier = (opts: VerifierOptions) => new Verifier(opts);
