import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AppError, ERROR_CODES, type ErrorCode, type FieldError } from "../domain/errors.js";
import { redactCredentials } from "../domain/redact.js";
import { isStoreUnavailable } from "../store/unavailable.js";

export interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/**
 * Ajv's errors of a nullable field whose value failed its other branch: "must be null" and
 * "must match a schema in anyOf" say nothing the branch's own errors do not, and read as if
 * only null were allowed. Dropped when that branch's errors are there.
 */
function withoutNullableNoise(errors: AjvError[]): AjvError[] {
  const told = (path: string) =>
    errors.some(
      (e) =>
        e.keyword !== "anyOf" &&
        !(e.keyword === "type" && e.params.type === "null") &&
        (e.instancePath === path || e.instancePath.startsWith(`${path}/`)),
    );
  return errors.filter(
    (e) => !((e.keyword === "anyOf" || (e.keyword === "type" && e.params.type === "null")) && told(e.instancePath)),
  );
}

/** Turns Ajv's errors into field errors: `path` names the field a user sent. */
export function fieldErrors(errors: AjvError[], context?: string): FieldError[] {
  return withoutNullableNoise(errors).map((e) => {
    let path = e.instancePath.replace(/^\//, "");
    if (e.keyword === "required") path = [path, e.params.missingProperty].filter(Boolean).join("/");
    if (e.keyword === "additionalProperties") {
      path = [path, e.params.additionalProperty].filter(Boolean).join("/");
    }
    const where = context && context !== "body" ? `${context}: ` : "";
    const message =
      e.keyword === "additionalProperties"
        ? "unknown field"
        : e.keyword === "required"
          ? "is required"
          : (e.message ?? "is invalid");
    return { path: path || (context ?? ""), code: e.keyword, message: `${where}${message}` };
  });
}

export function problemBody(
  code: ErrorCode,
  detail: string,
  requestId: string,
  errors?: FieldError[],
): Record<string, unknown> {
  const { status, title } = ERROR_CODES[code];
  // Details and field errors may quote what the client sent: never a credential, even its own.
  const quoted = (e: FieldError): FieldError => ({
    ...e,
    path: redactCredentials(e.path),
    message: redactCredentials(e.message),
  });
  return {
    type: `https://keyward.dev/problems/${code.toLowerCase().replaceAll("_", "-")}`,
    title,
    status,
    detail: redactCredentials(detail),
    code,
    requestId,
    ...(errors ? { errors: errors.map(quoted) } : {}),
  };
}

export function sendProblem(
  reply: FastifyReply,
  code: ErrorCode,
  detail: string,
  requestId: string,
  errors?: FieldError[],
) {
  return replyWith(reply, problem(code, detail, requestId, errors));
}

/** An answer in problem+json: its status, extra headers and body text. */
export interface ProblemAnswer {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8";

/** What a 401 says a credential is taken as (RFC 6750 §3). */
const CHALLENGE = { "www-authenticate": 'Bearer realm="keyward"' };

export function problem(code: ErrorCode, detail: string, requestId: string, errors?: FieldError[]): ProblemAnswer {
  const { status } = ERROR_CODES[code];
  const body = JSON.stringify(problemBody(code, detail, requestId, errors));
  return status === 401 ? { status, headers: CHALLENGE, body } : { status, body };
}

export const INVALID_JSON = "Body is not valid JSON";

/** A 400 naming each field the validator refused (`context`: body, querystring, params…). */
export function invalidInput(validation: AjvError[], context: string | undefined, requestId: string): ProblemAnswer {
  const errors = fieldErrors(validation, context);
  const detail = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
  return problem("INVALID_REQUEST", `Invalid request: ${detail}`, requestId, errors);
}

/** The problem+json answer for any thrown thing; internals never reach the client. */
export function problemOf(
  err: FastifyError | AppError | Error,
  requestId: string,
  log: FastifyBaseLogger,
): ProblemAnswer {
  if (err instanceof AppError) {
    const p = problem(err.code, err.message, requestId, err.errors);
    return err.headers ? { ...p, headers: { ...p.headers, ...err.headers } } : p;
  }
  const fe = err as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (fe.validation) return invalidInput(fe.validation, fe.validationContext, requestId);
  const status = fe.statusCode ?? 500;
  if (status === 413) return problem("PAYLOAD_TOO_LARGE", "Request body is too large", requestId);
  if (status === 415) return problem("UNSUPPORTED_MEDIA_TYPE", "Send application/json", requestId);
  if (status === 429) return problem("RATE_LIMITED", "Too many requests", requestId);
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (bad JSON, empty body): safe, fixed messages.
    const detail =
      fe.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err instanceof SyntaxError
        ? INVALID_JSON
        : fe.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
          ? "Body must not be empty when content-type is application/json"
          : "Bad request";
    return problem("INVALID_REQUEST", detail, requestId);
  }
  // The database down or its connection lost: the client may retry (and is told when), as a
  // cold /v1/verify is. A 500 would say the request itself broke something.
  if (isStoreUnavailable(err)) {
    log.warn({ err }, "the database is unavailable");
    return {
      ...problem("UNAVAILABLE", "The database is unavailable; retry shortly", requestId),
      headers: { "retry-after": "1" },
    };
  }
  // A concurrent change won a uniqueness or reference race the service checked beforehand.
  const dbCode = (err as { code?: unknown }).code;
  if (
    dbCode === "23505" ||
    dbCode === "23503" ||
    (typeof dbCode === "string" && /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY|FOREIGNKEY)$/.test(dbCode))
  ) {
    log.warn({ err }, "constraint violation");
    return problem("CONFLICT", "The request conflicts with a concurrent change; retry", requestId);
  }
  // Text PostgreSQL cannot store (the input check before validation should have caught it).
  if (dbCode === "22021" || dbCode === "22P05") {
    log.warn({ err }, "text the database cannot store");
    return problem("INVALID_REQUEST", "The request holds text that cannot be stored", requestId);
  }
  log.error({ err }, "unhandled error");
  return problem("INTERNAL", `Internal error; quote request id ${requestId}`, requestId);
}

function replyWith(reply: FastifyReply, p: ProblemAnswer) {
  if (p.headers) reply.headers(p.headers);
  return reply.status(p.status).header("content-type", PROBLEM_CONTENT_TYPE).send(p.body);
}

/** Fastify's error handler: every thrown thing as problem+json ({@link problemOf}). */
export function errorHandler(err: FastifyError | AppError | Error, req: FastifyRequest, reply: FastifyReply) {
  return replyWith(reply, problemOf(err, req.id, req.log));
}
