import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyBaseLogger } from "fastify";
import secureJson from "secure-json-parse";
import { AppError } from "../domain/errors.js";
import { SESSION_TOKEN_PREFIX } from "../services/auth-service.js";
import type { VerifyInput, VerifyResult } from "../services/verify/verify-service.js";
import type { Actor } from "../services/deps.js";
import { type BearerResolver, bearerActor, bearerToken } from "./authenticate.js";
import {
  type AjvError,
  INVALID_JSON,
  PROBLEM_CONTENT_TYPE,
  type ProblemAnswer,
  invalidInput,
  problemOf,
} from "./problem.js";

export const VERIFY_PATH = "/v1/verify";

export interface VerifyLaneDeps {
  resolvers: BearerResolver[];
  /** The endpoint's answer (routes/verify.ts): the same function the Fastify route calls. */
  answer: (actor: Actor, body: VerifyInput, log: FastifyBaseLogger) => VerifyResult | Promise<VerifyResult>;
  /** The body validator Fastify compiles for the route (same schema, same options). */
  validate: ((body: unknown) => boolean) & { errors?: AjvError[] | null };
  /** The route's response serializer (same schema as the route's). */
  serialize: (result: VerifyResult) => string;
  /** The client's address as Fastify's `req.ip` gives it (trusted proxies included). */
  clientIp: (req: IncomingMessage) => string | null;
  nextRequestId: () => string;
  /** Counts one answer (the request metrics Fastify's answers go through too). */
  record: (method: string, route: string, status: number, seconds: number) => void;
  /** True once the server is closing: answers then carry `Connection: close`. */
  closing: () => boolean;
  bodyLimit: number;
  log: FastifyBaseLogger;
  /** Log each request as Fastify does ("incoming request", "request completed"). */
  logRequests: boolean;
}

/** One request the lane answers: where the answer goes, its id, and when it arrived. */
interface Exchange {
  res: ServerResponse;
  id: string;
  started: number;
}

/** Fastify's JSON parser's defaults: `__proto__` and `constructor` keys are refused. */
const PARSE_OPTIONS = { protoAction: "error", constructorAction: "error" } as const;

const isJson = (type: string | undefined) => {
  if (type === undefined) return false;
  const t = type.toLowerCase();
  return t === "application/json" || t === "application/json; charset=utf-8";
};

/**
 * `POST /v1/verify` answered straight from Node's HTTP server, in front of Fastify. Verify is
 * called on every request the platform serves, and Fastify's request lifecycle (request and
 * reply objects, hooks, content-type parsing) cost more than the verification itself. The lane
 * does what the route does, in the same order and with the same parts: the caller's bearer
 * credential (the resolvers of authenticate.ts), Fastify's JSON parsing (secure-json-parse with
 * its options), the route's compiled body validator, the same answer function, the route's
 * response serializer, problem+json errors from `problemOf`, the request id, `x-request-id`,
 * the request metrics and `Connection: close` while closing.
 *
 * It takes only requests it can answer on its own, and leaves every other one to Fastify
 * untouched (returns false before reading anything): no bearer credential or a session token
 * (cookies, CSRF), a content type other than JSON, no or an oversized `content-length`
 * (413 and chunked bodies stay Fastify's), a malformed `Authorization` header, and every
 * request once the server is closing (Fastify answers those 503).
 */
export function verifyLane(d: VerifyLaneDeps) {
  const send = (x: Exchange, status: number, type: string, payload: string, headers?: Record<string, string>) => {
    const head: Record<string, string | number> = {
      "content-type": type,
      "content-length": Buffer.byteLength(payload),
      "x-request-id": x.id,
      ...headers,
    };
    if (d.closing()) head.connection = "close";
    x.res.writeHead(status, head);
    x.res.end(payload);
    const seconds = (performance.now() - x.started) / 1000;
    d.record("POST", VERIFY_PATH, status, seconds);
    if (d.logRequests)
      d.log.info({ reqId: x.id, res: { statusCode: status }, responseTime: seconds * 1000 }, "request completed");
  };

  const problem = (x: Exchange, p: ProblemAnswer) => send(x, p.status, PROBLEM_CONTENT_TYPE, p.body, p.headers);
  const fail = (x: Exchange, err: Error) => problem(x, problemOf(err, x.id, d.log));

  const answer = (x: Exchange, result: VerifyResult) => {
    let payload: string;
    try {
      payload = d.serialize(result);
    } catch (err) {
      return fail(x, err as Error);
    }
    send(x, 200, "application/json; charset=utf-8", payload);
  };

  /** The body is read: validate it, then answer as the caller (maybe still being resolved). */
  const respond = (x: Exchange, text: string, actor: Actor | Promise<Actor>) => {
    // Fastify authenticates before it parses: a bad credential wins over a bad body.
    if (actor instanceof Promise) {
      actor.then(
        (a) => respond(x, text, a),
        (err) => fail(x, err),
      );
      return;
    }
    let body: unknown;
    try {
      // As Fastify's JSON parser: a BOM is dropped, `__proto__` and `constructor` refused.
      body = secureJson.parse(text, PARSE_OPTIONS);
    } catch {
      // As Fastify answers it: a body it could not parse ends the connection too.
      const p = problemOf(new AppError("INVALID_REQUEST", INVALID_JSON), x.id, d.log);
      return problem(x, { ...p, headers: { ...p.headers, connection: "close" } });
    }
    if (!d.validate(body)) return problem(x, invalidInput(d.validate.errors ?? [], "body", x.id));
    let result: VerifyResult | Promise<VerifyResult>;
    try {
      result = d.answer(actor, body as VerifyInput, d.log);
    } catch (err) {
      return fail(x, err as Error);
    }
    if (result instanceof Promise) {
      result.then(
        (r) => answer(x, r),
        (err) => fail(x, err),
      );
    } else answer(x, result);
  };

  /** Answers the request and returns true, or returns false (untouched) for Fastify to answer. */
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== "POST" || req.url !== VERIFY_PATH) return false;
    const { headers } = req;
    const authorization = headers.authorization;
    const length = Number(headers["content-length"]);
    if (
      d.closing() ||
      authorization === undefined ||
      !isJson(headers["content-type"]) ||
      headers["transfer-encoding"] !== undefined ||
      !(length > 0 && length <= d.bodyLimit)
    )
      return false;
    let token: string;
    try {
      token = bearerToken(authorization);
    } catch {
      return false;
    }
    if (token.startsWith(SESSION_TOKEN_PREFIX)) return false;

    const x: Exchange = { res, id: d.nextRequestId(), started: performance.now() };
    const ip = d.clientIp(req);
    if (d.logRequests)
      d.log.info({ reqId: x.id, req: { method: "POST", url: VERIFY_PATH, ip, id: x.id } }, "incoming request");
    let actor: Actor | Promise<Actor>;
    try {
      actor = bearerActor(d.resolvers, token, ip);
    } catch (err) {
      // Answered at once, as Fastify answers a failed onRequest hook; Node drops the unread body.
      fail(x, err as Error);
      return true;
    }
    // Keep a rejection from going unhandled while the body arrives.
    if (actor instanceof Promise) actor.catch(() => {});
    // Bytes, decoded once at the end (`setEncoding` would make a string decoder per request).
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.once("end", () => {
      const bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      respond(x, bytes.toString("utf8"), actor);
    });
    return true;
  };
}
