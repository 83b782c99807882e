import type { FastifyInstance } from "fastify";
import { AppError } from "../domain/errors.js";

/**
 * Parses `application/x-www-form-urlencoded` bodies (OAuth token requests) into a plain
 * object. Register it only on the routes that take forms: elsewhere the API speaks JSON.
 * A parameter sent twice is refused (RFC 6749 §3.2), as is a body over `bodyLimit`; one sent
 * without a value counts as omitted (§3.1).
 */
export function registerFormBody(app: FastifyInstance, bodyLimit = 16 * 1024) {
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string", bodyLimit },
    (_req, body, done) => {
      const out: Record<string, string> = Object.create(null);
      const seen = new Set<string>();
      for (const [k, v] of new URLSearchParams(body as string)) {
        if (seen.has(k))
          return done(new AppError("INVALID_REQUEST", `Parameter ${k} is sent more than once`), undefined);
        seen.add(k);
        // Sent without a value: as if omitted (RFC 6749 §3.1).
        if (v !== "") out[k] = v;
      }
      done(null, { ...out });
    },
  );
}
