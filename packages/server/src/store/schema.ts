/**
 * Table types for Kysely. One shape for SQLite and PostgreSQL: instants are ISO-8601 UTC
 * strings (sortable as text), booleans are 0/1 integers, lists and objects are JSON text.
 */
export interface UsersTable {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  must_change_password: number;
  created_at: string;
  updated_at: string;
}

export interface SessionsTable {
  /** SHA-256 of the session token; the token itself is never stored. */
  token_hash: string;
  id: string;
  user_id: string;
  csrf_token: string;
  created_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
}

export interface OrgsTable {
  id: string;
  name: string;
  is_operator: number;
  settings: string;
  created_at: string;
  updated_at: string;
  version: number;
}

export interface OrgMembersTable {
  org_id: string;
  user_id: string;
  invited_by: string | null;
  created_at: string;
}

export interface ProjectsTable {
  id: string;
  org_id: string;
  name: string;
  description: string;
  created_at: string;
  updated_at: string;
}

export interface ServiceAccountsTable {
  id: string;
  org_id: string;
  name: string;
  description: string;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface RolesTable {
  id: string;
  org_id: string;
  name: string;
  description: string;
  permissions: string;
  created_at: string;
  updated_at: string;
}

export interface BindingsTable {
  id: string;
  org_id: string;
  principal_type: "user" | "service_account";
  principal_id: string;
  role_id: string;
  /** null = the whole org. */
  project_id: string | null;
  created_at: string;
}

export interface InvitationsTable {
  id: string;
  org_id: string;
  email: string;
  /** JSON [{roleId, projectId}] */
  roles: string;
  token_hash: string;
  invited_by: string;
  created_at: string;
  expires_at: string;
  accepted_at: string | null;
  accepted_by: string | null;
}

export interface ApiKeysTable {
  id: string;
  org_id: string;
  name: string;
  description: string;
  owner_type: "user" | "service_account" | "project";
  owner_id: string;
  default_project_id: string | null;
  /** JSON string[] or null (null = all of the owner's permissions). */
  permissions: string | null;
  /** JSON string[] of role ids or null. */
  roles: string | null;
  read_only: number;
  allowed_projects: string | null;
  allowed_ips: string | null;
  expires_at: string | null;
  ratelimit_limit: number | null;
  ratelimit_window: number | null;
  status: "active" | "disabled";
  /** 1 when disabled through iam:apikeys:manage (see migration 0005): enabled again only so. Default 0. */
  disabled_by_manager?: number;
  start: string;
  /** HMAC-SHA256(secret, pepper), hex. */
  secret_hash: string;
  /** The previous secret's hash while a regenerate grace period runs. */
  previous_hash: string | null;
  previous_expires_at: string | null;
  created_at: string;
  created_by: string;
  updated_at: string;
  last_used_at: string | null;
  last_used_ip: string | null;
  version: number;
}

export interface KeyRegenerationsTable {
  key_id: string;
  /** SHA-256 of the Idempotency-Key header value. */
  idempotency_hash: string;
  /** Random nonce the new secret was derived from (the secret needs the pepper too). */
  nonce: string;
  version: number;
  created_at: string;
}

export interface KeyUsageTable {
  key_id: string;
  /** Start of the UTC hour. */
  hour: string;
  /** 64-bit: PostgreSQL answers a `bigint` as a string; read it with `Number()`. */
  count: number | string;
}

export interface AuditEventsTable {
  id: string;
  org_id: string | null;
  actor_type: string;
  actor_id: string | null;
  /** Credential the actor used: session id, key id or token id. */
  actor_credential: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  result: "success" | "denied" | "failure";
  /** The API key acted through, directly or by a token exchanged from it (migration 0007). */
  actor_key_id: string | null;
  /** JSON: {before?, after?, reason?} */
  details: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  created_at: string;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: string;
  /** Private JWK, AES-256-GCM under a key derived from KEYWARD_SECRET. */
  private_jwk_encrypted: string;
  created_at: string;
  /** After this the key signs no more; it stays published until tokens it signed expire. */
  rotated_at: string | null;
}

/** Facts about the deployment as a whole (migration 0006). */
export interface InstanceSettingsTable {
  name: string;
  value: string;
  created_at: string;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  orgs: OrgsTable;
  org_members: OrgMembersTable;
  projects: ProjectsTable;
  service_accounts: ServiceAccountsTable;
  roles: RolesTable;
  bindings: BindingsTable;
  invitations: InvitationsTable;
  api_keys: ApiKeysTable;
  key_regenerations: KeyRegenerationsTable;
  key_usage: KeyUsageTable;
  audit_events: AuditEventsTable;
  signing_keys: SigningKeysTable;
  instance_settings: InstanceSettingsTable;
}
