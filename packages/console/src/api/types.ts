/** API shapes (DESIGN.md §2, §4, §5), as the console uses them. */

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface User {
  id: string;
  email: string;
  name: string;
  mustChangePassword: boolean;
  createdAt: string;
}

export interface Me {
  principal: { type: string; id: string };
  credential: { type: string; id: string };
  user?: User;
  orgId?: string;
}

export interface OrgSettings {
  restrictKeyCreation: boolean;
  requireExpiry: boolean;
  maxKeyLifetimeDays: number | null;
  maxKeysPerUser: number | null;
  allowedIps: string[];
  inviterManagesKeys: boolean;
}

export interface Org {
  id: string;
  name: string;
  isOperator: boolean;
  settings: OrgSettings;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface RoleBinding {
  roleId: string;
  projectId?: string | null;
}

export interface Project {
  id: string;
  orgId: string;
  name: string;
  description: string;
  createdAt: string;
  updatedAt: string;
}

export interface ServiceAccount {
  id: string;
  orgId: string;
  name: string;
  description: string;
  roles: RoleBinding[];
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Role {
  id: string;
  orgId: string | null;
  name: string;
  description: string;
  permissions: string[];
  builtin: boolean;
}

export interface Member {
  userId: string;
  email: string;
  name: string;
  invitedBy: string | null;
  roles: RoleBinding[];
  joinedAt: string;
}

export interface Invitation {
  id: string;
  orgId: string;
  email: string;
  roles: RoleBinding[];
  invitedBy: string;
  createdAt: string;
  expiresAt: string;
  acceptedAt: string | null;
}

export interface Permission {
  name: string;
  description: string;
  platform: boolean;
  readOnly: boolean;
}

export type OwnerType = "user" | "service_account" | "project";

export interface ApiKey {
  id: string;
  name: string;
  description: string;
  owner: { type: OwnerType; id: string; name?: string };
  orgId: string;
  defaultProjectId: string | null;
  permissions: string[];
  roles: string[];
  /** No permissions and no roles: the key acts with all of its owner's permissions. */
  inheritsOwnerPermissions?: boolean;
  readOnly: boolean;
  /** null: any project the owner reaches. */
  allowedProjects: string[] | null;
  allowedIps: string[];
  expiresAt: string | null;
  ratelimit?: { limit: number; windowSeconds: number } | null;
  status: "active" | "disabled";
  start: string;
  createdAt: string;
  createdBy: string | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  updatedAt?: string;
  /** While a regenerate grace period runs: when the old secret stops. */
  previousSecretExpiresAt?: string | null;
  version: number;
}

export interface AllowedPermissions {
  projectId: string | null;
  /** Whether the caller may create a key there at all (iam:apikeys:create and org policy). */
  canCreate: boolean;
  items: Permission[];
}

export interface KeyWithSecret {
  apiKey: ApiKey;
  secret: string;
}

/** A named view, or one principal's keys by id (usr_…, sa_…, prj_…). */
export type KeyView = "mine" | "users" | "service-accounts" | "projects" | "all" | `${"usr" | "sa" | "prj"}_${string}`;

export interface AuditEvent {
  id: string;
  orgId: string | null;
  actor: { type: string; id: string | null; credential?: string | null; key?: string | null } | null;
  action: string;
  target: { type: string | null; id: string | null } | null;
  result: "success" | "denied" | "failure";
  details?: unknown;
  ip: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  createdAt: string;
}

export interface UsagePoint {
  hour?: string;
  at?: string;
  time?: string;
  count?: number;
  requests?: number;
  [k: string]: unknown;
}
