export { createKeywardClient, paginate, unwrap, type KeywardClient, type KeywardClientOptions } from "./client.js";
export { KeywardError, isKeywardError, type FieldError, type Problem } from "./errors.js";
export {
  Verifier,
  createVerifier,
  looksLikeToken,
  type RateLimitState,
  type VerifiedKey,
  type VerifierOptions,
  type VerifyDenyCode,
  type VerifyRequest,
  type VerifyResult,
} from "./verify.js";
export {
  authenticateRequest,
  keywardExpress,
  keywardFastify,
  keywardNode,
  readCredential,
  type AuthOutcome,
  type MiddlewareOptions,
  type Refusal,
  type RequestLike,
} from "./middleware.js";
export { allPermitted, permissionMatches } from "./permissions.js";
export type { components, paths } from "./generated/openapi.js";

import type { components } from "./generated/openapi.js";
type Schemas = components["schemas"];
/** Shorthand for a schema of the API: `Schema<"Org">`. */
export type Schema<N extends keyof Schemas> = Schemas[N];
