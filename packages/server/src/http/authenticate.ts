import type { FastifyRequest } from "fastify";
import { AppError } from "../domain/errors.js";
import { MAX_CREDENTIAL_LENGTH } from "../domain/keys/secret.js";
import type { Actor } from "../services/deps.js";
import type { Services } from "../services/index.js";
import { SESSION_TOKEN_PREFIX, type SessionInfo, safeEqual } from "../services/auth-service.js";
import { readCookie } from "./cookies.js";

export const SESSION_COOKIE = "kw_session";
export const CSRF_COOKIE = "kw_csrf";
export const CSRF_HEADER = "x-csrf-token";

/**
 * Turns a bearer token other than a session token into an actor (API keys, exchanged
 * tokens), given the client's IP. Returns null when the token is not of its kind; throws when
 * it is but is bad. A warm credential may be answered synchronously (no promise on the hot path).
 */
export type BearerResolver = (token: string, ip: string | null) => Actor | null | Promise<Actor | null>;

const BEARER = new RegExp(`^Bearer\\s+(\\S{1,${MAX_CREDENTIAL_LENGTH}})$`, "i");

/** The credential of an `Authorization` header; a header of another shape answers 401. */
export function bearerToken(header: string): string {
  const match = BEARER.exec(header);
  if (!match) throw new AppError("UNAUTHENTICATED", "Authorization must be 'Bearer <credential>'");
  return match[1];
}

/**
 * The actor of a bearer token (not a session token): the first resolver that knows its kind
 * decides. Synchronous for as long as the resolvers answer synchronously; 401 when none knows it.
 */
export function bearerActor(
  resolvers: BearerResolver[],
  token: string,
  ip: string | null,
  from = 0,
): Actor | Promise<Actor> {
  for (let i = from; i < resolvers.length; i++) {
    const found = resolvers[i](token, ip);
    if (found instanceof Promise) {
      const next = i + 1;
      return found.then((actor) => actor ?? bearerActor(resolvers, token, ip, next));
    }
    if (found) return found;
  }
  throw new AppError("UNAUTHENTICATED", "Credential not recognised");
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const BEARER_SCHEME = /^Bearer\s/i;

/**
 * What a session whose password was generated or reset may do before it is changed: see who it
 * is, change it, sign out. The password was printed or handed over; it opens nothing else.
 */
const BEFORE_PASSWORD_CHANGE = new Set(["GET /v1/me", "POST /v1/me/password", "POST /v1/auth/logout"]);

const sessionActor = (req: FastifyRequest, s: SessionInfo): Actor => {
  // HEAD is answered by the GET route, so it is allowed where GET is.
  const method = req.method === "HEAD" ? "GET" : req.method;
  if (s.mustChangePassword && !BEFORE_PASSWORD_CHANGE.has(`${method} ${req.routeOptions.url}`))
    throw new AppError(
      "PASSWORD_CHANGE_REQUIRED",
      "This password was generated or reset: change it first (POST /v1/me/password, or the console)",
    );
  return { kind: "user", id: s.userId, credential: { type: "session", id: s.sessionId } };
};

/**
 * Resolves the request's credential into `req.ctx.actor`; anonymous when none is sent.
 * Returns a promise only when it has to wait (a session lookup, a cold key): a warm API key
 * is resolved without one, since this runs before every request, /v1/verify included.
 */
export function authenticate(
  services: Services,
  resolvers: BearerResolver[],
  needsCredential: (req: FastifyRequest) => boolean,
) {
  const bySession = async (req: FastifyRequest, token: string) => {
    const s = await services.auth.resolve(token);
    if (!s) throw new AppError("UNAUTHENTICATED", "Session expired or unknown");
    req.ctx.actor = sessionActor(req, s);
  };

  const byCookie = async (req: FastifyRequest, cookie: string) => {
    const s = await services.auth.resolve(cookie);
    if (!s) return;
    // Cookie sessions need the CSRF token in a header on every state-changing request.
    if (!SAFE_METHODS.has(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== "string" || !safeEqual(sent, s.csrfToken)) {
        throw new AppError(
          "CSRF_REQUIRED",
          `Send the ${CSRF_HEADER} header with the value of the ${CSRF_COOKIE} cookie`,
        );
      }
    }
    req.ctx.actor = sessionActor(req, s);
  };

  return (req: FastifyRequest): void | Promise<void> => {
    const header = req.headers.authorization;
    // Another scheme than Bearer (an OAuth client library's Basic client credentials on
    // /v1/token, whose credential is the API key in its body) means nothing to Keyward: a
    // route that needs no credential goes on as if it were absent; the others answer 401.
    if (header && (BEARER_SCHEME.test(header) || needsCredential(req))) {
      const token = bearerToken(header);
      if (token.startsWith(SESSION_TOKEN_PREFIX)) return bySession(req, token);
      const actor = bearerActor(resolvers, token, req.ctx.ip);
      if (!(actor instanceof Promise)) {
        req.ctx.actor = actor;
        return;
      }
      return actor.then((a) => {
        req.ctx.actor = a;
      });
    }
    const cookie = readCookie(req, SESSION_COOKIE);
    if (cookie) return byCookie(req, cookie);
  };
}
