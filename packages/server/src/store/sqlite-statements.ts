import type SQLite from "better-sqlite3";
import type { SqliteDatabase } from "kysely";

/**
 * A SQLite connection for Kysely that keeps the statements it prepares, by SQL text, for the
 * next query with the same text. Kysely's SQLite driver prepares every query anew: SQLite
 * parses and plans it again, and better-sqlite3 builds a new native statement for the
 * collector. Preparing the queries of a key loaded on a verify cache miss took two fifths of
 * the load's time (bench/RESULTS.md). The SQL texts Kysely compiles are few
 * (values are bound as parameters, not written into the text), so nearly every query is a hit.
 *
 * Bounded: the least recently used statement is let go past `size`. A statement still being
 * iterated (Kysely's `stream()`) is never handed out twice; that query gets a fresh one. A
 * schema change needs nothing here: SQLite plans a kept statement again when the schema it
 * was planned for has changed.
 */
export function withStatementCache(sqlite: SQLite.Database, size = 256): SqliteDatabase {
  const kept = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      const hit = kept.get(sql);
      if (hit && !hit.busy) {
        // Moved to the end of the map's order: the first entry is the least recently used.
        kept.delete(sql);
        kept.set(sql, hit);
        return hit;
      }
      const statement = sqlite.prepare(sql);
      if (hit) return statement; // the kept one is busy: this query's is not kept
      kept.set(sql, statement);
      if (kept.size > size) kept.delete(kept.keys().next().value as string);
      return statement;
    },
  };
}
