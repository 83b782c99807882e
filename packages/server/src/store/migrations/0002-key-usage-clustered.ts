import type { Kysely } from "kysely";
import { rebuildSqliteKeyUsage } from "./key-usage-rebuild.js";

/**
 * SQLite: key_usage becomes a WITHOUT ROWID table, its rows stored in primary-key order (key
 * id, hour). The usage flush writes counts in key id order, so one transaction changes a run
 * of neighbouring pages instead of a page per key (with a rowid, every row also lived in a
 * second B-tree in insertion order). PostgreSQL keeps its table: nothing to change there.
 * (0003 puts the hour first.)
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await rebuildSqliteKeyUsage(db, { first: "key_id", withoutRowid: true });
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await rebuildSqliteKeyUsage(db, { first: "key_id", withoutRowid: false });
}
