import { type Kysely, type RawBuilder, SqliteAdapter, sql } from "kysely";

/**
 * SQLite: key_usage becomes a WITHOUT ROWID table, its rows stored in primary-key order (key
 * id, hour). The usage flush writes counts in key id order, so one transaction changes a run
 * of neighbouring pages instead of a page per key (with a rowid, every row also lived in a
 * second B-tree in insertion order). PostgreSQL keeps its table: nothing to change there.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await rebuildKeyUsage(db, sql`without rowid`);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await rebuildKeyUsage(db, sql``);
}

/**
 * Copies SQLite's key_usage into a new table with `options` and puts it in the old one's
 * place, in one transaction (Kysely runs SQLite migrations outside one): all or nothing.
 */
async function rebuildKeyUsage(db: Kysely<unknown>, options: RawBuilder<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return;
  await db.transaction().execute(async (trx) => {
    await sql`create table key_usage_rebuilt (
      key_id varchar(40) not null references api_keys (id) on delete cascade,
      hour varchar(30) not null,
      count integer not null,
      constraint key_usage_pk primary key (key_id, hour)
    ) ${options}`.execute(trx);
    await sql`insert into key_usage_rebuilt (key_id, hour, count) select key_id, hour, count from key_usage`.execute(
      trx,
    );
    await sql`drop table key_usage`.execute(trx);
    await sql`alter table key_usage_rebuilt rename to key_usage`.execute(trx);
  });
}
