import Type from "typebox";
import { ipRuleSchema } from "../../domain/ip-rules.js";
import { Description, Id, Instant, Name } from "./common.js";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T, description?: string) =>
  Type.Union([Type.Null(), s], description ? { description } : {});

const OwnerType = Type.Union([Type.Literal("user"), Type.Literal("service_account"), Type.Literal("project")]);
const Owner = Type.Object(
  { type: OwnerType, id: Type.String({ maxLength: 48, examples: ["sa_4kTz9QmW2bX7cN1pLr8sVd3e"] }) },
  { additionalProperties: false, description: "Principal the key acts as. Default: the caller" },
);
const Ratelimit = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  },
  { additionalProperties: false, description: "Requests allowed per window (enforced by verification)" },
);
const PermissionList = Type.Array(Type.String({ maxLength: 130 }), {
  maxItems: 200,
  description: "Permission names or patterns (compute:*, *:read); expanded against the catalog",
  examples: [["compute:read", "storage:*"]],
});
const RoleList = Type.Array(Type.String({ maxLength: 48 }), {
  maxItems: 50,
  description: "Role ids whose permissions the key carries",
  examples: [["role_viewer"]],
});
const ProjectList = Type.Array(Id("prj"), {
  maxItems: 100,
  description: "Projects the key may act in (null/absent: any)",
});
const IpList = Type.Array(ipRuleSchema, {
  maxItems: 100,
  description: "IPv4/IPv6 addresses and CIDRs (empty: any)",
  examples: [["203.0.113.0/24", "2001:db8::/32"]],
});
const Expiry = Type.Union([Type.String({ maxLength: 40 }), Type.Integer({ minimum: 0 })], {
  description: "RFC 3339 instant or Unix seconds; must be in the future",
  examples: ["2027-01-01T00:00:00Z", 1798761600],
});

export const ApiKeySchema = Type.Object(
  {
    id: Id("key"),
    orgId: Id("org"),
    name: Name,
    description: Description,
    owner: Type.Object({ type: OwnerType, id: Type.String() }),
    defaultProjectId: Nullable(Type.String()),
    permissions: Type.Array(Type.String()),
    roles: Type.Array(Type.String()),
    inheritsOwnerPermissions: Type.Boolean({
      description: "No permissions and no roles: the key acts with all of its owner's permissions",
    }),
    readOnly: Type.Boolean(),
    allowedProjects: Nullable(Type.Array(Type.String())),
    allowedIps: Type.Array(Type.String()),
    expiresAt: Nullable(Instant),
    ratelimit: Nullable(Type.Object({ limit: Type.Integer(), windowSeconds: Type.Integer() })),
    status: Type.Union([Type.Literal("active"), Type.Literal("disabled")]),
    start: Type.String({ description: "First 8 characters of the secret, for recognising it", examples: ["kw_3kTq9"] }),
    createdAt: Instant,
    createdBy: Type.String(),
    updatedAt: Instant,
    lastUsedAt: Nullable(Instant),
    lastUsedIp: Nullable(Type.String()),
    previousSecretExpiresAt: Nullable(Instant, "While a regenerate grace period runs: when the old secret stops"),
    version: Type.Integer({ description: 'Send as If-Match: "v<version>"' }),
  },
  {
    $id: "ApiKey",
    examples: [
      {
        id: "key_7hQv2Lr9XcPz4NmB8tKd1sWe",
        orgId: "org_4kTz9QmW2bX7cN1pLr8sVd3e",
        name: "billing-service",
        description: "Reads invoices",
        owner: { type: "user", id: "usr_2bX7cN1pLr8sVd3e4kTz9QmW" },
        defaultProjectId: null,
        permissions: ["compute:read"],
        roles: [],
        inheritsOwnerPermissions: false,
        readOnly: false,
        allowedProjects: null,
        allowedIps: ["203.0.113.0/24"],
        expiresAt: "2027-01-01T00:00:00.000Z",
        ratelimit: null,
        status: "active",
        start: "kw_3kTq9",
        createdAt: "2026-11-23T10:00:00.000Z",
        createdBy: "usr_2bX7cN1pLr8sVd3e4kTz9QmW",
        updatedAt: "2026-11-23T10:00:00.000Z",
        lastUsedAt: null,
        lastUsedIp: null,
        previousSecretExpiresAt: null,
        version: 1,
      },
    ],
  },
);

export const KeyWithSecret = Type.Object({
  apiKey: Type.Ref("ApiKey"),
  secret: Type.String({
    description: "The key's secret. Shown only in this response; store it now",
    examples: ["kw_3kTq9Lr2XcPz4NmB8tKd1sWeQv7hA2bC4d5E6f"],
  }),
});

export const CreateKeyBody = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
    owner: Type.Optional(Owner),
    permissions: Type.Optional(PermissionList),
    roles: Type.Optional(RoleList),
    readOnly: Type.Optional(Type.Boolean()),
    allowedProjects: Type.Optional(Nullable(ProjectList)),
    allowedIps: Type.Optional(IpList),
    expiresAt: Type.Optional(Nullable(Expiry)),
    defaultProjectId: Type.Optional(Nullable(Id("prj"))),
    ratelimit: Type.Optional(Nullable(Ratelimit)),
  },
  {
    additionalProperties: false,
    examples: [
      {
        name: "ci-deploy",
        permissions: ["compute:read", "compute:write"],
        allowedIps: ["203.0.113.0/24"],
        expiresAt: "2027-01-01T00:00:00Z",
      },
      {
        name: "reporting",
        owner: { type: "service_account", id: "sa_4kTz9QmW2bX7cN1pLr8sVd3e" },
        roles: ["role_viewer"],
        readOnly: true,
      },
    ],
  },
);

export const UpdateKeyBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    defaultProjectId: Type.Optional(Nullable(Id("prj"))),
    permissions: Type.Optional(PermissionList),
    roles: Type.Optional(RoleList),
    readOnly: Type.Optional(Type.Boolean()),
    allowedProjects: Type.Optional(Nullable(ProjectList)),
    allowedIps: Type.Optional(IpList),
    expiresAt: Type.Optional(Nullable(Expiry)),
    ratelimit: Type.Optional(Nullable(Ratelimit)),
  },
  {
    additionalProperties: false,
    description: "Permissions and roles may only narrow; readOnly cannot be lifted",
    examples: [{ name: "ci-deploy (prod)", allowedIps: ["198.51.100.7"], permissions: ["compute:read"] }],
  },
);

export const RegenerateBody = Type.Object(
  {
    graceSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 604_800,
        description: "Keep the old secret valid this long (≤ 7 days)",
        examples: [3600],
      }),
    ),
  },
  { additionalProperties: false },
);

export const AllowedPermissions = Type.Object({
  projectId: Nullable(Type.String(), "The scope asked about (null: org-wide)"),
  canCreate: Type.Boolean({
    description: "Whether the caller may create a key there at all (iam:apikeys:create and org policy)",
  }),
  items: Type.Array(Type.Ref("Permission")),
});

export const AuditEventSchema = Type.Object(
  {
    id: Type.String(),
    orgId: Nullable(Type.String()),
    actor: Type.Object({
      type: Type.String(),
      id: Nullable(Type.String()),
      credential: Nullable(Type.String({ description: "Session, key or token id" })),
      key: Nullable(
        Type.String({ description: "The API key acted through: the credential itself, or the key a token came from" }),
      ),
    }),
    action: Type.String({ examples: ["api_key.create"] }),
    target: Nullable(Type.Object({ type: Type.String(), id: Type.String() })),
    result: Type.Union([Type.Literal("success"), Type.Literal("denied"), Type.Literal("failure")]),
    details: Nullable(
      Type.Object(
        {},
        { additionalProperties: true, description: "{before?, after?, reason?}: non-secret fields only" },
      ),
    ),
    ip: Nullable(Type.String()),
    userAgent: Nullable(Type.String()),
    requestId: Nullable(Type.String()),
    createdAt: Instant,
  },
  { $id: "AuditEvent" },
);

export const AuditQuerySchema = Type.Object(
  {
    actor: Type.Optional(
      Type.String({ maxLength: 48, description: "Actor principal id, or the session/key/token id it used" }),
    ),
    action: Type.Optional(
      Type.String({ maxLength: 60, description: "Exact action, or a prefix ending in * (api_key.*)" }),
    ),
    target: Type.Optional(Type.String({ maxLength: 48, description: "Target id" })),
    targetType: Type.Optional(Type.String({ maxLength: 30 })),
    result: Type.Optional(Type.Union([Type.Literal("success"), Type.Literal("denied"), Type.Literal("failure")])),
    from: Type.Optional(
      Type.String({ maxLength: 40, description: "Inclusive lower bound (RFC 3339 or Unix seconds)" }),
    ),
    to: Type.Optional(Type.String({ maxLength: 40, description: "Exclusive upper bound (RFC 3339 or Unix seconds)" })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
