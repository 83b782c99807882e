import type { Kysely } from "kysely";

/** The whole first schema. Column types are portable across SQLite and PostgreSQL. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("users")
    .addColumn("id", "varchar(40)", (c) => c.primaryKey())
    .addColumn("email", "varchar(320)", (c) => c.notNull().unique())
    .addColumn("name", "varchar(200)", (c) => c.notNull())
    .addColumn("password_hash", "text", (c) => c.notNull())
    .addColumn("must_change_password", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addColumn("updated_at", "varchar(30)", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("sessions")
    .addColumn("token_hash", "varchar(64)", (c) => c.primaryKey())
    .addColumn("id", "varchar(40)", (c) => c.notNull().unique())
    .addColumn("user_id", "varchar(40)", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("csrf_token", "varchar(64)", (c) => c.notNull())
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addColumn("expires_at", "varchar(30)", (c) => c.notNull())
    .addColumn("ip", "varchar(64)")
    .addColumn("user_agent", "varchar(500)")
    .execute();
  await db.schema.createIndex("sessions_user").on("sessions").column("user_id").execute();

  await db.schema
    .createTable("orgs")
    .addColumn("id", "varchar(40)", (c) => c.primaryKey())
    .addColumn("name", "varchar(200)", (c) => c.notNull())
    .addColumn("is_operator", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("settings", "text", (c) => c.notNull())
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addColumn("updated_at", "varchar(30)", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull().defaultTo(1))
    .execute();

  await db.schema
    .createTable("org_members")
    .addColumn("org_id", "varchar(40)", (c) => c.notNull().references("orgs.id").onDelete("cascade"))
    .addColumn("user_id", "varchar(40)", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("invited_by", "varchar(40)")
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addPrimaryKeyConstraint("org_members_pk", ["org_id", "user_id"])
    .execute();
  await db.schema.createIndex("org_members_user").on("org_members").column("user_id").execute();

  await db.schema
    .createTable("projects")
    .addColumn("id", "varchar(40)", (c) => c.primaryKey())
    .addColumn("org_id", "varchar(40)", (c) => c.notNull().references("orgs.id").onDelete("cascade"))
    .addColumn("name", "varchar(200)", (c) => c.notNull())
    .addColumn("description", "varchar(1000)", (c) => c.notNull().defaultTo(""))
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addColumn("updated_at", "varchar(30)", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("projects_org").on("projects").columns(["org_id", "created_at", "id"]).execute();

  await db.schema
    .createTable("service_accounts")
    .addColumn("id", "varchar(40)", (c) => c.primaryKey())
    .addColumn("org_id", "varchar(40)", (c) => c.notNull().references("orgs.id").onDelete("cascade"))
    .addColumn("name", "varchar(200)", (c) => c.notNull())
    .addColumn("description", "varchar(1000)", (c) => c.notNull().defaultTo(""))
    .addColumn("created_by", "varchar(40)")
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addColumn("updated_at", "varchar(30)", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("service_accounts_org")
    .on("service_accounts")
    .columns(["org_id", "created_at", "id"])
    .execute();

  await db.schema
    .createTable("roles")
    .addColumn("id", "varchar(40)", (c) => c.primaryKey())
    .addColumn("org_id", "varchar(40)", (c) => c.notNull().references("orgs.id").onDelete("cascade"))
    .addColumn("name", "varchar(100)", (c) => c.notNull())
    .addColumn("description", "varchar(1000)", (c) => c.notNull().defaultTo(""))
    .addColumn("permissions", "text", (c) => c.notNull())
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addColumn("updated_at", "varchar(30)", (c) => c.notNull())
    .addUniqueConstraint("roles_org_name", ["org_id", "name"])
    .execute();

  await db.schema
    .createTable("bindings")
    .addColumn("id", "varchar(40)", (c) => c.primaryKey())
    .addColumn("org_id", "varchar(40)", (c) => c.notNull().references("orgs.id").onDelete("cascade"))
    .addColumn("principal_type", "varchar(20)", (c) => c.notNull())
    .addColumn("principal_id", "varchar(40)", (c) => c.notNull())
    .addColumn("role_id", "varchar(40)", (c) => c.notNull())
    .addColumn("project_id", "varchar(40)", (c) => c.references("projects.id").onDelete("cascade"))
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("bindings_principal").on("bindings").columns(["org_id", "principal_id"]).execute();
  await db.schema.createIndex("bindings_role").on("bindings").column("role_id").execute();

  await db.schema
    .createTable("invitations")
    .addColumn("id", "varchar(40)", (c) => c.primaryKey())
    .addColumn("org_id", "varchar(40)", (c) => c.notNull().references("orgs.id").onDelete("cascade"))
    .addColumn("email", "varchar(320)", (c) => c.notNull())
    .addColumn("roles", "text", (c) => c.notNull())
    .addColumn("token_hash", "varchar(64)", (c) => c.notNull().unique())
    .addColumn("invited_by", "varchar(40)", (c) => c.notNull())
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addColumn("expires_at", "varchar(30)", (c) => c.notNull())
    .addColumn("accepted_at", "varchar(30)")
    .addColumn("accepted_by", "varchar(40)")
    .execute();
  await db.schema.createIndex("invitations_org").on("invitations").columns(["org_id", "created_at"]).execute();

  await db.schema
    .createTable("api_keys")
    .addColumn("id", "varchar(40)", (c) => c.primaryKey())
    .addColumn("org_id", "varchar(40)", (c) => c.notNull().references("orgs.id").onDelete("cascade"))
    .addColumn("name", "varchar(100)", (c) => c.notNull())
    .addColumn("description", "varchar(1000)", (c) => c.notNull().defaultTo(""))
    .addColumn("owner_type", "varchar(20)", (c) => c.notNull())
    .addColumn("owner_id", "varchar(40)", (c) => c.notNull())
    .addColumn("default_project_id", "varchar(40)")
    .addColumn("permissions", "text")
    .addColumn("roles", "text")
    .addColumn("read_only", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("allowed_projects", "text")
    .addColumn("allowed_ips", "text")
    .addColumn("expires_at", "varchar(30)")
    .addColumn("ratelimit_limit", "integer")
    .addColumn("ratelimit_window", "integer")
    .addColumn("status", "varchar(20)", (c) => c.notNull())
    .addColumn("start", "varchar(20)", (c) => c.notNull())
    .addColumn("secret_hash", "varchar(64)", (c) => c.notNull().unique())
    .addColumn("previous_hash", "varchar(64)")
    .addColumn("previous_expires_at", "varchar(30)")
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addColumn("created_by", "varchar(40)", (c) => c.notNull())
    .addColumn("updated_at", "varchar(30)", (c) => c.notNull())
    .addColumn("last_used_at", "varchar(30)")
    .addColumn("last_used_ip", "varchar(64)")
    .addColumn("version", "integer", (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.createIndex("api_keys_org_list").on("api_keys").columns(["org_id", "created_at", "id"]).execute();
  await db.schema
    .createIndex("api_keys_owner")
    .on("api_keys")
    .columns(["org_id", "owner_id", "created_at", "id"])
    .execute();
  await db.schema
    .createIndex("api_keys_owner_type")
    .on("api_keys")
    .columns(["org_id", "owner_type", "created_at", "id"])
    .execute();
  await db.schema.createIndex("api_keys_previous_hash").on("api_keys").column("previous_hash").execute();

  await db.schema
    .createTable("key_regenerations")
    .addColumn("key_id", "varchar(40)", (c) => c.notNull().references("api_keys.id").onDelete("cascade"))
    .addColumn("idempotency_hash", "varchar(64)", (c) => c.notNull())
    .addColumn("nonce", "varchar(64)", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addPrimaryKeyConstraint("key_regenerations_pk", ["key_id", "idempotency_hash"])
    .execute();

  await db.schema
    .createTable("key_usage")
    .addColumn("key_id", "varchar(40)", (c) => c.notNull().references("api_keys.id").onDelete("cascade"))
    .addColumn("hour", "varchar(30)", (c) => c.notNull())
    .addColumn("count", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("key_usage_pk", ["key_id", "hour"])
    .execute();

  await db.schema
    .createTable("audit_events")
    .addColumn("id", "varchar(40)", (c) => c.primaryKey())
    .addColumn("org_id", "varchar(40)")
    .addColumn("actor_type", "varchar(20)", (c) => c.notNull())
    .addColumn("actor_id", "varchar(40)")
    .addColumn("actor_credential", "varchar(40)")
    .addColumn("action", "varchar(60)", (c) => c.notNull())
    .addColumn("target_type", "varchar(30)")
    .addColumn("target_id", "varchar(40)")
    .addColumn("result", "varchar(20)", (c) => c.notNull())
    .addColumn("details", "text")
    .addColumn("ip", "varchar(64)")
    .addColumn("user_agent", "varchar(500)")
    .addColumn("request_id", "varchar(40)")
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("audit_org_time").on("audit_events").columns(["org_id", "created_at", "id"]).execute();

  await db.schema
    .createTable("signing_keys")
    .addColumn("kid", "varchar(40)", (c) => c.primaryKey())
    .addColumn("alg", "varchar(20)", (c) => c.notNull())
    .addColumn("public_jwk", "text", (c) => c.notNull())
    .addColumn("private_jwk_encrypted", "text", (c) => c.notNull())
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .addColumn("rotated_at", "varchar(30)")
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    "signing_keys",
    "audit_events",
    "key_usage",
    "key_regenerations",
    "api_keys",
    "invitations",
    "bindings",
    "roles",
    "service_accounts",
    "projects",
    "org_members",
    "orgs",
    "sessions",
    "users",
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
