import { type Kysely, sql } from "kysely";

/**
 * Whether a key was disabled by someone who governs it through `iam:apikeys:manage` (an
 * administrator), rather than by its owner: such a key is enabled again only through that
 * right, not by its owner or a sibling key (a disable for a suspected leak must hold).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table api_keys add column disabled_by_manager integer not null default 0`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table api_keys drop column disabled_by_manager`.execute(db);
}
