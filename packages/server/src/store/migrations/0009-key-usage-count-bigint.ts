import { type Kysely, PostgresAdapter, sql } from "kysely";

/**
 * PostgreSQL: an hour's count of one key as a 64-bit number. `integer` is 32 bits there (64 on
 * SQLite): a key verified some 600,000 times a second across a cluster passed 2^31 in an hour,
 * and the flush's upsert then failed, with every other key of its transaction, at every flush
 * until the hour ended. The column is rewritten once (the table is locked meanwhile). Counts
 * come back as strings (`bigint`), read with `Number()`.
 */
const isPostgres = (db: Kysely<unknown>) => db.getExecutor().adapter instanceof PostgresAdapter;

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`alter table key_usage alter column count type bigint`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`alter table key_usage alter column count type integer`.execute(db);
}
