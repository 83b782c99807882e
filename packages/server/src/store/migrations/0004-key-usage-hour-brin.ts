import { type Kysely, PostgresAdapter, sql } from "kysely";

/**
 * PostgreSQL: a BRIN index on key_usage's hour, so the usage retention finds the hours to
 * delete without reading the whole table (its primary key starts with the key id). Rows are
 * stored about in the order they were inserted, so by hour, which is what BRIN needs: it keeps
 * a minimum and a maximum per range of pages (40 kB for a 313 MB table), and it is written
 * only when a new row is inserted, never when a count grows. Measured on 4.8 M rows (20,000
 * keys × 240 hours), deleting the oldest hour: 415–438 ms by reading the table, 10–11 ms with
 * the index in one statement (the prune's transactions of 5,000 rows: 3.5–4.2 ms each). The usage flush (20,000 keys with 48 hours of history, three pairs): its first
 * flush of an hour, which inserts the rows, 54.7–62.5 µs per key with the index and
 * 52.1–54.5 without; the flushes after it, which add to counts, alike (25–43 µs both ways).
 * `autosummarize` describes each range of pages once it is full, rather than at the next
 * vacuum.
 *
 * SQLite needs nothing: its key_usage is stored by hour first (0003).
 */
const isPostgres = (db: Kysely<unknown>) => db.getExecutor().adapter instanceof PostgresAdapter;

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`create index key_usage_hour on key_usage using brin (hour) with (autosummarize = on)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`drop index key_usage_hour`.execute(db);
}
