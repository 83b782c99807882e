import { type Kysely, SqliteAdapter, sql } from "kysely";

/**
 * SQLite: key_usage becomes a WITHOUT ROWID table, its rows stored in primary-key order (key
 * id, hour). The usage flush writes counts in key id order, so one transaction changes a run
 * of neighbouring pages instead of a page per key (with a rowid, every row also lived in a
 * second B-tree in insertion order). PostgreSQL keeps its table: nothing to change there.
 * The copy is one transaction (Kysely runs SQLite migrations outside one): all or nothing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return;
  await db.transaction().execute(async (trx) => {
    await sql`create table key_usage_clustered (
      key_id varchar(40) not null references api_keys (id) on delete cascade,
      hour varchar(30) not null,
      count integer not null,
      constraint key_usage_pk primary key (key_id, hour)
    ) without rowid`.execute(trx);
    await sql`insert into key_usage_clustered (key_id, hour, count) select key_id, hour, count from key_usage`.execute(
      trx,
    );
    await sql`drop table key_usage`.execute(trx);
    await sql`alter table key_usage_clustered rename to key_usage`.execute(trx);
  });
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return;
  await db.transaction().execute(async (trx) => {
    await sql`create table key_usage_rowid (
      key_id varchar(40) not null references api_keys (id) on delete cascade,
      hour varchar(30) not null,
      count integer not null,
      constraint key_usage_pk primary key (key_id, hour)
    )`.execute(trx);
    await sql`insert into key_usage_rowid (key_id, hour, count) select key_id, hour, count from key_usage`.execute(trx);
    await sql`drop table key_usage`.execute(trx);
    await sql`alter table key_usage_rowid rename to key_usage`.execute(trx);
  });
}
