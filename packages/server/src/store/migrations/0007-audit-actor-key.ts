import { type Kysely, sql } from "kysely";

/**
 * The API key an actor acted through, directly or through a token exchanged from it: what a
 * leaked key did is then found by its id (`?actor=key_…`), tokens included. Older events
 * made with a key have it as their credential already; with a token, only the token's id.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table audit_events add column actor_key_id varchar(40)`.execute(db);
  await sql`update audit_events set actor_key_id = actor_credential where actor_credential like 'key\\_%' escape '\\'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table audit_events drop column actor_key_id`.execute(db);
}
