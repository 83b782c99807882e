import { type Kysely, SqliteAdapter, sql } from "kysely";

/** The shape of SQLite's key_usage that a migration rebuilds it to. */
export interface KeyUsageShape {
  /**
   * The column the primary key starts with (a WITHOUT ROWID table is stored in its order).
   * Hour first, an index on (key_id, hour) serves one key's usage and the cascade when a key
   * is deleted.
   */
  first: "key_id" | "hour";
  withoutRowid: boolean;
}

/**
 * Copies SQLite's key_usage into a new table of the given shape and puts it in the old one's
 * place (the old one's indexes go with it), in one transaction (Kysely runs SQLite migrations
 * outside one): all or nothing. Does nothing on PostgreSQL.
 */
export async function rebuildSqliteKeyUsage(db: Kysely<unknown>, shape: KeyUsageShape): Promise<void> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) return;
  const hourFirst = shape.first === "hour";
  await db.transaction().execute(async (trx) => {
    await sql`create table key_usage_rebuilt (
      key_id varchar(40) not null references api_keys (id) on delete cascade,
      hour varchar(30) not null,
      count integer not null,
      constraint key_usage_pk primary key (${hourFirst ? sql`hour, key_id` : sql`key_id, hour`})
    ) ${shape.withoutRowid ? sql`without rowid` : sql``}`.execute(trx);
    await sql`insert into key_usage_rebuilt (key_id, hour, count) select key_id, hour, count from key_usage`.execute(
      trx,
    );
    await sql`drop table key_usage`.execute(trx);
    await sql`alter table key_usage_rebuilt rename to key_usage`.execute(trx);
    if (hourFirst) await sql`create index key_usage_key on key_usage (key_id, hour)`.execute(trx);
  });
}
