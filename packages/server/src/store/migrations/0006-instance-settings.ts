import type { Kysely } from "kysely";

/**
 * Facts about the deployment as a whole, one row each. The first: a fingerprint of the secret
 * (`KEYWARD_SECRET` or `data/secret.key`) that every key's hash and the signing keys depend on,
 * so a node started with another secret refuses to start instead of answering every key
 * NOT_FOUND.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("instance_settings")
    .addColumn("name", "varchar(100)", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .addColumn("created_at", "varchar(30)", (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("instance_settings").execute();
}
