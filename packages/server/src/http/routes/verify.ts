import { AppError, invalidField } from "../../domain/errors.js";
import { normaliseIp } from "../../domain/ip-rules.js";
import type { FastifyBaseLogger } from "fastify";
import type { Services } from "../../services/index.js";
import type { Actor } from "../../services/deps.js";
import type { VerifyInput, VerifyResult } from "../../services/verify/verify-service.js";
import type { App } from "../app.js";
import { errorResponses } from "../schemas/common.js";
import { VerifyBody, VerifyResponse } from "../schemas/verify.js";

/** Answer when the caller may not verify (cached per credential by the verify service). */
const notPermitted = () =>
  new AppError("FORBIDDEN", "Missing permission iam:apikeys:verify (held only in the operator organization)");

/**
 * The verify endpoint's answer for an authenticated caller and a validated body: one
 * implementation for the route below and for the lane in front of Fastify (http/verify-lane.ts).
 * Synchronous for a warm caller and a warm key.
 */
export function verifyAnswerer(s: Services) {
  const unavailable = (log: FastifyBaseLogger) => (err: unknown) => {
    // Only a cache miss (of the key or of the caller's right) reaches the store: when it is
    // down, say so (retryable), not 500 and not 403.
    log.error({ err }, "verification could not reach the key store");
    throw new AppError("UNAVAILABLE", "The key store is unavailable; retry shortly", {
      headers: { "retry-after": "1" },
      cause: err,
    });
  };
  const answer = (permitted: boolean, body: VerifyInput, log: FastifyBaseLogger) => {
    if (!permitted) throw notPermitted();
    let input = body;
    if (body.ip != null) {
      // Judged and recorded (the key's lastUsedIp) as the address it is, not as the text sent.
      const ip = normaliseIp(body.ip);
      if (ip === null) throw invalidField("ip", "ip must be an IPv4 or IPv6 address");
      if (ip !== body.ip) input = { ...body, ip };
    }
    const result = s.verify.verify(input);
    return result instanceof Promise ? result.catch(unavailable(log)) : result;
  };
  return (actor: Actor, body: VerifyInput, log: FastifyBaseLogger): VerifyResult | Promise<VerifyResult> => {
    const permitted = s.verify.mayVerify(actor);
    if (permitted instanceof Promise) return permitted.then((ok) => answer(ok, body, log), unavailable(log));
    return answer(permitted, body, log);
  };
}

export function verifyRoutes(app: App, s: Services) {
  const verifyAnswer = verifyAnswerer(s);
  app.addSchema(VerifyResponse);
  app.post(
    "/v1/verify",
    {
      // A key with a NUL is MALFORMED here, as the verify lane answers it.
      config: { judgesCredentials: true },
      schema: {
        tags: ["verify"],
        summary: "Verify an API key (or exchanged token) for a request",
        description:
          "For the platform's services: the caller needs `iam:apikeys:verify` in the operator org. A decision is always 200: " +
          "`{valid: true, keyId, orgId, owner, projectId, permissions, expiresAt, ratelimit?}` or `{valid: false, code, ratelimit?}`. " +
          "Codes: MALFORMED, NOT_FOUND, EXPIRED, DISABLED, IP_NOT_ALLOWED, PROJECT_NOT_ALLOWED, READ_ONLY, INSUFFICIENT_PERMISSIONS, RATE_LIMITED, OWNER_INACTIVE. " +
          "An unknown key and a wrong secret get the same answer (NOT_FOUND).",
        body: VerifyBody,
        response: { 200: { $ref: "VerifyResult" }, ...errorResponses(400, 401, 403, 413, 415, 503) },
      },
    },
    // Not async: a warm key is answered synchronously, without a promise per request.
    (req) => verifyAnswer(req.ctx.actor, req.body, req.log),
  );
}
