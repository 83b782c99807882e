import Type, { type Static } from "typebox";
import { MAX_CREDENTIAL_LENGTH } from "../../domain/keys/secret.js";

/** `string | null` as one JSON-Schema type list (cheaper to serialize than anyOf). */
const NullableString = (opts: Record<string, unknown> = {}) =>
  Type.Unsafe<string | null>({ type: ["string", "null"], ...opts });

export const VERIFY_CODES = [
  "MALFORMED",
  "NOT_FOUND",
  "EXPIRED",
  "DISABLED",
  "IP_NOT_ALLOWED",
  "PROJECT_NOT_ALLOWED",
  "READ_ONLY",
  "INSUFFICIENT_PERMISSIONS",
  "RATE_LIMITED",
  "OWNER_INACTIVE",
] as const;

export const VerifyBody = Type.Object(
  {
    key: Type.String({
      maxLength: MAX_CREDENTIAL_LENGTH,
      description: "The API key secret (or an exchanged token) the end client presented",
    }),
    permissions: Type.Optional(
      Type.Array(Type.String({ maxLength: 200 }), {
        maxItems: 100,
        description: "Every one must be held (concrete names)",
      }),
    ),
    projectId: Type.Optional(
      NullableString({ maxLength: 48, description: "Project the request acts in; default: the key's default project" }),
    ),
    ip: Type.Optional(
      NullableString({
        maxLength: 64,
        description: "The end client's IP, checked against the key's and org's allow lists",
      }),
    ),
    method: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 16,
        pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", // an HTTP method is a token (RFC 9110)
        description: "HTTP method of the protected request (read-only keys: GET/HEAD/OPTIONS)",
      }),
    ),
  },
  { additionalProperties: false },
);
export type VerifyBodyT = Static<typeof VerifyBody>;

export const RateLimitState = Type.Object({
  limit: Type.Integer(),
  remaining: Type.Integer(),
  resetAt: Type.String({ format: "date-time", description: "End of the current window: retry after this" }),
});

/**
 * One flat object for both outcomes (valid or not): `valid` says which fields are present.
 * Declared flat rather than as a union so the serializer stays fast on the hot path.
 */
export const VerifyResponse = Type.Object(
  {
    valid: Type.Boolean(),
    code: Type.Optional(
      Type.Union(
        VERIFY_CODES.map((c) => Type.Literal(c)),
        { description: "Why not valid (valid: false only)" },
      ),
    ),
    keyId: Type.Optional(Type.String()),
    orgId: Type.Optional(Type.String()),
    owner: Type.Optional(
      Type.Object({
        type: Type.Union([Type.Literal("user"), Type.Literal("service_account"), Type.Literal("project")]),
        id: Type.String(),
      }),
    ),
    projectId: Type.Optional(NullableString({ description: "Project the decision applies to; null = org-wide" })),
    permissions: Type.Optional(Type.Array(Type.String(), { description: "Effective permissions there" })),
    expiresAt: Type.Optional(NullableString({ format: "date-time" })),
    ratelimit: Type.Optional(RateLimitState),
  },
  { $id: "VerifyResult" },
);

export const TokenBody = Type.Object(
  {
    grant_type: Type.String({ examples: ["urn:keyward:params:oauth:grant-type:apikey"] }),
    apikey: Type.String({ maxLength: 4096 }),
    scope: Type.Optional(
      Type.String({ maxLength: 8192, description: "Space-separated permissions to narrow the token to" }),
    ),
    projectId: Type.Optional(Type.String({ maxLength: 48, description: "Narrow the token to one project" })),
    expires_in: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 3600 }), Type.String({ pattern: "^[0-9]{1,5}$" })], {
        description: "Seconds, 1-3600 (default 900)",
      }),
    ),
  },
  { additionalProperties: false },
);

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal("Bearer"),
  expires_in: Type.Integer(),
  scope: Type.String(),
});

export const OAuthError = Type.Object({
  error: Type.String({ examples: ["invalid_grant"] }),
  error_description: Type.String(),
});

export const IntrospectBody = Type.Object(
  {
    token: Type.String({ maxLength: MAX_CREDENTIAL_LENGTH }),
    token_type_hint: Type.Optional(Type.String({ maxLength: 40 })),
  },
  { additionalProperties: false },
);

export const IntrospectResponse = Type.Object({
  active: Type.Boolean(),
  scope: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String({ description: "The key the token was exchanged from" })),
  token_type: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  sub: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  org: Type.Optional(Type.String()),
  key_id: Type.Optional(Type.String()),
});

export const UsageQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: "date-time", description: "Default: 7 days before `to`" })),
    to: Type.Optional(Type.String({ format: "date-time", description: "Default: now" })),
  },
  { additionalProperties: false },
);

export const UsageResponse = Type.Object({
  keyId: Type.String(),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  lastUsedAt: NullableString({ format: "date-time" }),
  lastUsedIp: NullableString(),
  total: Type.Integer(),
  items: Type.Array(Type.Object({ hour: Type.String({ format: "date-time" }), count: Type.Integer() })),
});
