import type { KeyOwnerType } from "../domain/keys/decide.js";
import { parseList, ratelimitOf } from "../domain/keys/record.js";
import type { ApiKeysTable } from "../store/schema.js";

/** An API key as the API shows it: never the secret or its hash. */
export interface ApiKeyView {
  id: string;
  orgId: string;
  name: string;
  description: string;
  owner: { type: KeyOwnerType; id: string };
  defaultProjectId: string | null;
  /** Explicit permission patterns; with `roles` empty too, the key carries all of its owner's permissions. */
  permissions: string[];
  roles: string[];
  /** True when the key has neither permissions nor roles: it acts with all of its owner's. */
  inheritsOwnerPermissions: boolean;
  readOnly: boolean;
  allowedProjects: string[] | null;
  allowedIps: string[];
  expiresAt: string | null;
  ratelimit: { limit: number; windowSeconds: number } | null;
  status: "active" | "disabled";
  start: string;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  /** While a regenerate grace period runs: when the previous secret stops working. */
  previousSecretExpiresAt: string | null;
  version: number;
}

export function toKeyView(r: ApiKeysTable, now: Date): ApiKeyView {
  const permissions = parseList(r.permissions);
  const roles = parseList(r.roles);
  const grace =
    r.previous_expires_at && Date.parse(r.previous_expires_at) > now.getTime() ? r.previous_expires_at : null;
  return {
    id: r.id,
    orgId: r.org_id,
    name: r.name,
    description: r.description,
    owner: { type: r.owner_type, id: r.owner_id },
    defaultProjectId: r.default_project_id,
    permissions: permissions ?? [],
    roles: roles ?? [],
    inheritsOwnerPermissions: permissions === null && roles === null,
    readOnly: r.read_only === 1,
    allowedProjects: parseList(r.allowed_projects),
    allowedIps: parseList(r.allowed_ips) ?? [],
    expiresAt: r.expires_at,
    ratelimit: ratelimitOf(r),
    status: r.status,
    start: r.start,
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
    lastUsedAt: r.last_used_at,
    lastUsedIp: r.last_used_ip,
    previousSecretExpiresAt: grace,
    version: r.version,
  };
}

/** The non-secret settings an audit event records before/after. */
export function auditFields(v: ApiKeyView) {
  return {
    name: v.name,
    description: v.description,
    owner: v.owner,
    defaultProjectId: v.defaultProjectId,
    permissions: v.permissions,
    roles: v.roles,
    readOnly: v.readOnly,
    allowedProjects: v.allowedProjects,
    allowedIps: v.allowedIps,
    expiresAt: v.expiresAt,
    ratelimit: v.ratelimit,
    status: v.status,
  };
}
