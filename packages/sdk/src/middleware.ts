import type { IncomingMessage, ServerResponse } from "node:http";
import { KeywardError } from "./errors.js";
import type { VerifiedKey, Verifier, VerifyRequest } from "./verify.js";

declare global {
  // Express's request type gains `keyward` (declaration merging; harmless without Express).
  namespace Express {
    interface Request {
      /** The verified key, set by keywardExpress(). */
      keyward?: VerifiedKey;
    }
  }
}

/** What the middleware reads from a request; Express, Fastify and node:http requests all fit. */
export interface RequestLike {
  method?: string;
  headers: IncomingMessage["headers"];
  ip?: string;
  socket?: { remoteAddress?: string };
}

export interface MiddlewareOptions<R extends RequestLike = RequestLike> {
  /**
   * Where the key is: `authorization` (default; `Bearer <key>`) or any other header name,
   * whose whole value is the key (e.g. `x-api-key`).
   */
  header?: string;
  /** Permissions the request needs (all of them), fixed or per request. */
  permissions?: string[] | ((req: R) => string[] | undefined);
  /** The project the request acts in. */
  projectId?: (req: R) => string | undefined;
  /** Send the client IP for allow-list checks (default: `req.ip`, else the socket address). `false` sends none. */
  ip?: false | ((req: R) => string | undefined);
  /** Send the request method, so read-only keys may only read (default true). */
  forwardMethod?: boolean;
}

export interface Refusal {
  status: 401 | 403 | 429 | 503;
  headers: Record<string, string>;
  /** problem+json (RFC 9457); `reason` is the verification code (`EXPIRED`, `IP_NOT_ALLOWED`, …). */
  body: { type: string; title: string; status: number; detail: string; code: string; reason?: string };
}

export type AuthOutcome = { ok: true; key: VerifiedKey } | { ok: false; refusal: Refusal };

const FORBIDDEN_CODES = new Set(["IP_NOT_ALLOWED", "PROJECT_NOT_ALLOWED", "READ_ONLY", "INSUFFICIENT_PERMISSIONS"]);

const DETAILS: Record<string, string> = {
  MISSING: "No API key was sent",
  MALFORMED: "The API key is malformed",
  NOT_FOUND: "The API key is not valid",
  EXPIRED: "The API key has expired",
  DISABLED: "The API key is disabled",
  OWNER_INACTIVE: "The API key's owner is no longer active",
  INVALID_TOKEN: "The token is not valid",
  IP_NOT_ALLOWED: "The API key may not be used from this address",
  PROJECT_NOT_ALLOWED: "The API key may not act in this project",
  READ_ONLY: "The API key is read-only",
  INSUFFICIENT_PERMISSIONS: "The API key lacks a permission this request needs",
  RATE_LIMITED: "The API key's rate limit is exceeded",
  UNAVAILABLE: "Key verification is unavailable",
};

function refusal(reason: string, resetAt?: string): Refusal {
  const [status, code, title] = FORBIDDEN_CODES.has(reason)
    ? ([403, "FORBIDDEN", "Forbidden"] as const)
    : reason === "RATE_LIMITED"
      ? ([429, "RATE_LIMITED", "Too many requests"] as const)
      : reason === "UNAVAILABLE"
        ? ([503, "UNAVAILABLE", "Service unavailable"] as const)
        : ([401, "UNAUTHENTICATED", "Authentication required"] as const);
  const headers: Record<string, string> = { "content-type": "application/problem+json; charset=utf-8" };
  if (status === 401) headers["www-authenticate"] = 'Bearer realm="api"';
  if (status === 429 || status === 503) {
    const wait = resetAt ? Math.ceil((Date.parse(resetAt) - Date.now()) / 1000) : 1;
    headers["retry-after"] = String(Number.isFinite(wait) && wait > 0 ? wait : 1);
  }
  return {
    status,
    headers,
    body: {
      type: `https://keyward.dev/problems/${code.toLowerCase().replaceAll("_", "-")}`,
      title,
      status,
      detail: DETAILS[reason] ?? `The API key was refused (${reason})`,
      code,
      ...(reason !== "MISSING" && reason !== "UNAVAILABLE" ? { reason } : {}),
    },
  };
}

/** The credential a request carries, or null. */
export function readCredential(req: RequestLike, header = "authorization"): string | null {
  const name = header.toLowerCase();
  const raw = req.headers[name];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (!value) return null;
  if (name !== "authorization") return value;
  const m = /^Bearer\s+(\S+)$/i.exec(value);
  return m ? m[1] : null;
}

/** Reads the key, verifies it, and says either who it is or how to refuse. Framework-free. */
export async function authenticateRequest<R extends RequestLike>(
  verifier: Verifier,
  req: R,
  opts: MiddlewareOptions<R> = {},
): Promise<AuthOutcome> {
  const credential = readCredential(req, opts.header);
  if (!credential) return { ok: false, refusal: refusal("MISSING") };
  const vr: VerifyRequest = {};
  const perms = typeof opts.permissions === "function" ? opts.permissions(req) : opts.permissions;
  if (perms?.length) vr.permissions = perms;
  const projectId = opts.projectId?.(req);
  if (projectId) vr.projectId = projectId;
  if (opts.ip !== false) {
    // Read as Keyward reads an address by the verifier (a proxy may have written a port).
    const ip = opts.ip ? opts.ip(req) : (req.ip ?? req.socket?.remoteAddress);
    if (ip) vr.ip = ip;
  }
  if (opts.forwardMethod !== false && req.method) vr.method = req.method;
  let result: Awaited<ReturnType<Verifier["verify"]>>;
  try {
    result = await verifier.verify(credential, vr);
  } catch (err) {
    if (err instanceof KeywardError) {
      // Keyward could not read part of the question. What a client may have written is a
      // refusal, not an outage: the credential (too long, malformed), a project id or a
      // permission name too long to be one (a service may take them from the URL). Anything
      // else (more permissions than Keyward takes) is the service's own mistake, for its
      // operator to see (a 500 with nothing of Keyward's answer in its message).
      if (err.status === 413) return { ok: false, refusal: refusal("MALFORMED") };
      const unread = err.status === 400 ? err.errors.map((e) => e.path) : [];
      if (unread.length > 0 && unread.every((p) => p === "key" || p === "projectId" || /^permissions\/\d+$/.test(p))) {
        if (unread.includes("key")) return { ok: false, refusal: refusal("MALFORMED") };
        if (unread.includes("projectId")) return { ok: false, refusal: refusal("PROJECT_NOT_ALLOWED") };
        return { ok: false, refusal: refusal("INSUFFICIENT_PERMISSIONS") };
      }
      if (err.status === 400) {
        throw new Error("Keyward could not read the verification this service asked for (see cause)", {
          cause: err,
        });
      }
      // The verifier's own credential was refused: a misconfiguration for the operator to see
      // (the framework's error path, a 500), not a 503 that invites clients to retry. Not the
      // KeywardError itself: frameworks answer with an error's `status`, which would tell the
      // client its own key was refused, with Keyward's detail.
      if (err.status === 401 || err.status === 403)
        throw new Error(`Keyward refused the verifier's own credential (${err.status} ${err.code})`, { cause: err });
    }
    // Keyward unreachable, failing or too slow (its 503 carries Retry-After): answer 503, not a refusal of the key.
    const wait =
      err instanceof KeywardError && err.retryAfter
        ? new Date(Date.now() + err.retryAfter * 1000).toISOString()
        : undefined;
    return { ok: false, refusal: refusal("UNAVAILABLE", wait) };
  }
  if (!result.valid) return { ok: false, refusal: refusal(result.code, result.ratelimit?.resetAt) };
  return { ok: true, key: result };
}

function sendNode(res: ServerResponse, r: Refusal) {
  res.writeHead(r.status, r.headers);
  res.end(JSON.stringify(r.body));
}

type Next = (err?: unknown) => void;

/**
 * Express middleware: on success sets `req.keyward` (the verified key) and calls `next()`;
 * otherwise answers 401/403/429 (503 when Keyward is unreachable) with problem+json.
 *
 * @example
 * app.get("/servers", keywardExpress(verifier, { permissions: ["compute:read"] }), (req, res) => …);
 */
export function keywardExpress<R extends RequestLike = RequestLike>(
  verifier: Verifier,
  opts: MiddlewareOptions<R> = {},
) {
  return (req: R & { keyward?: VerifiedKey }, res: ServerResponse, next: Next) => {
    authenticateRequest(verifier, req, opts)
      .then((out) => {
        if (out.ok) {
          req.keyward = out.key;
          next();
        } else if (!res.headersSent) sendNode(res, out.refusal); // else something answered first (a timeout)
      }, next)
      .catch(next);
  };
}

/** The part of a Fastify reply the hook uses. */
interface ReplyLike {
  code(status: number): ReplyLike;
  headers(h: Record<string, string>): ReplyLike;
  send(body: unknown): unknown;
}

/**
 * A Fastify `onRequest`/`preHandler` hook: sets `request.keyward` or answers with problem+json.
 *
 * @example
 * app.get("/servers", { preHandler: keywardFastify(verifier, { permissions: ["compute:read"] }) }, async (req) => …);
 */
export function keywardFastify(verifier: Verifier, opts: MiddlewareOptions = {}) {
  return async (request: RequestLike, reply: ReplyLike): Promise<unknown> => {
    const out = await authenticateRequest(verifier, request, opts);
    if (out.ok) {
      (request as RequestLike & { keyward?: VerifiedKey }).keyward = out.key;
      return;
    }
    // Returning the reply after send() tells Fastify the hook answered.
    return reply.code(out.refusal.status).headers(out.refusal.headers).send(JSON.stringify(out.refusal.body));
  };
}

/**
 * Wraps a node:http handler: it runs only for verified requests, with the key as third argument.
 *
 * @example
 * http.createServer(keywardNode(verifier, (req, res, key) => res.end(key.keyId), { permissions: ["compute:read"] }));
 */
export function keywardNode(
  verifier: Verifier,
  handler: (req: IncomingMessage, res: ServerResponse, key: VerifiedKey) => unknown,
  opts: MiddlewareOptions<IncomingMessage> = {},
) {
  return (req: IncomingMessage, res: ServerResponse) => {
    authenticateRequest(verifier, req, opts)
      .then(async (out) => {
        if (!out.ok) return sendNode(res, out.refusal);
        await handler(req, res, out.key);
      })
      .catch((err) => {
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end("Internal error");
        }
        process.emitWarning(err instanceof Error ? err : String(err));
      });
  };
}
