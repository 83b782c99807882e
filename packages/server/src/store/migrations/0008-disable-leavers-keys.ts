import { type Kysely, sql } from "kysely";

/**
 * Keys of members who left an org before leaving disabled them (2195c7c): disabled now as an
 * administrator's disable, so they do not come back if the same person is invited again. They
 * answered OWNER_INACTIVE already, and still do while their owner is gone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`update api_keys set status = 'disabled', disabled_by_manager = 1, version = version + 1
    where owner_type = 'user' and not exists (
      select 1 from org_members m where m.org_id = api_keys.org_id and m.user_id = api_keys.owner_id
    )`.execute(db);
}

/** Nothing to undo that could be told apart from a disable made since. */
export async function down(): Promise<void> {}
