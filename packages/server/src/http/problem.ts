import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { AppError, ERROR_CODES, type ErrorCode, type FieldError } from "../domain/errors.js";

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/** Turns Ajv's errors into field errors: `path` names the field a user sent. */
export function fieldErrors(errors: AjvError[], context?: string): FieldError[] {
  return errors.map((e) => {
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
  return {
    type: `https://keyward.dev/problems/${code.toLowerCase().replaceAll("_", "-")}`,
    title,
    status,
    detail,
    code,
    requestId,
    ...(errors ? { errors } : {}),
  };
}

export function sendProblem(
  reply: FastifyReply,
  code: ErrorCode,
  detail: string,
  requestId: string,
  errors?: FieldError[],
) {
  return reply
    .status(ERROR_CODES[code].status)
    .header("content-type", "application/problem+json; charset=utf-8")
    .send(JSON.stringify(problemBody(code, detail, requestId, errors)));
}

/** Maps every thrown thing to problem+json; internals never reach the client. */
export function errorHandler(err: FastifyError | AppError | Error, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof AppError) {
    if (err.headers) reply.headers(err.headers);
    return sendProblem(reply, err.code, err.message, req.id, err.errors);
  }
  const fe = err as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (fe.validation) {
    const errors = fieldErrors(fe.validation, fe.validationContext);
    const detail = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    return sendProblem(reply, "INVALID_REQUEST", `Invalid request: ${detail}`, req.id, errors);
  }
  const status = fe.statusCode ?? 500;
  if (status === 413) return sendProblem(reply, "PAYLOAD_TOO_LARGE", "Request body is too large", req.id);
  if (status === 415) {
    return sendProblem(reply, "UNSUPPORTED_MEDIA_TYPE", "Send application/json", req.id);
  }
  if (status === 429) return sendProblem(reply, "RATE_LIMITED", "Too many requests", req.id);
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (bad JSON, empty body): safe, fixed messages.
    const detail =
      fe.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err instanceof SyntaxError
        ? "Body is not valid JSON"
        : fe.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
          ? "Body must not be empty when content-type is application/json"
          : "Bad request";
    return sendProblem(reply, "INVALID_REQUEST", detail, req.id);
  }
  // A concurrent change won a uniqueness or reference race the service checked beforehand.
  const dbCode = (err as { code?: unknown }).code;
  if (
    dbCode === "23505" ||
    dbCode === "23503" ||
    (typeof dbCode === "string" && /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY|FOREIGNKEY)$/.test(dbCode))
  ) {
    req.log.warn({ err }, "constraint violation");
    return sendProblem(reply, "CONFLICT", "The request conflicts with a concurrent change; retry", req.id);
  }
  req.log.error({ err }, "unhandled error");
  return sendProblem(reply, "INTERNAL", `Internal error; quote request id ${req.id}`, req.id);
}
