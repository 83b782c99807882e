import { closeSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import SQLite from "better-sqlite3";
import { CompiledQuery, type Driver, Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration } from "kysely";
import pg from "pg";
import * as m0001 from "./migrations/0001-initial.js";
import * as m0002 from "./migrations/0002-key-usage-clustered.js";
import * as m0003 from "./migrations/0003-key-usage-by-hour.js";
import * as m0004 from "./migrations/0004-key-usage-hour-brin.js";
import * as m0005 from "./migrations/0005-key-disabled-by-manager.js";
import * as m0006 from "./migrations/0006-instance-settings.js";
import * as m0007 from "./migrations/0007-audit-actor-key.js";
import * as m0008 from "./migrations/0008-disable-leavers-keys.js";
import * as m0009 from "./migrations/0009-key-usage-count-bigint.js";
import { type PgLimits, PreparingClient } from "./pg-prepared.js";
import type { Database } from "./schema.js";
import { startCheckpointer } from "./sqlite-checkpointer.js";
import { withStatementCache } from "./sqlite-statements.js";

export type Dialect = "sqlite" | "postgres";

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  /** Present on PostgreSQL: the pool, for LISTEN/NOTIFY. */
  pgPool?: pg.Pool;
  /** Present on PostgreSQL: how long its statements may wait for an answer (lifted while migrating). */
  pgLimits?: PgLimits;
  /** Present on SQLite: the connection, for statements prepared once (the usage flush). */
  sqlite?: SQLite.Database;
  schema?: string;
  close(): Promise<void>;
}

const migrations: Record<string, Migration> = {
  "0001-initial": m0001,
  "0002-key-usage-clustered": m0002,
  "0003-key-usage-by-hour": m0003,
  "0004-key-usage-hour-brin": m0004,
  "0005-key-disabled-by-manager": m0005,
  "0006-instance-settings": m0006,
  "0007-audit-actor-key": m0007,
  "0008-disable-leavers-keys": m0008,
  "0009-key-usage-count-bigint": m0009,
};

/**
 * SQLite whose transactions begin IMMEDIATE, taking the write lock up front. Another
 * connection (the usage writer thread) also writes; a deferred transaction that read first
 * and then wrote after that commit would fail with SQLITE_BUSY instead of waiting its turn.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection) => {
      await connection.executeQuery(CompiledQuery.raw("begin immediate"));
    };
    return driver;
  }
}

export function isPostgresUrl(url: string): boolean {
  return url.startsWith("postgres://") || url.startsWith("postgresql://");
}

/**
 * Opens the database named by `url`: a postgres:// URL, or a SQLite file path
 * (`sqlite:` prefix optional, `:memory:` allowed). `schema` isolates a PostgreSQL run.
 */
/** A PostgreSQL schema name Keyward may write unquoted (KEYWARD_DATABASE_SCHEMA). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDb(url: string, schema?: string, opts: { timeoutMs?: number } = {}): Promise<Db> {
  if (isPostgresUrl(url)) {
    if (schema && !SCHEMA_NAME.test(schema)) throw new Error(`bad schema name ${schema}`);
    // A database out of reach must not hold requests for as long as TCP takes to give up
    // (minutes): connecting, waiting for a free connection and each statement's answer are
    // bounded, and what times out answers 503 (store/unavailable.ts).
    const timeoutMs = opts.timeoutMs ?? 0;
    const pgLimits: PgLimits = { readTimeoutMs: timeoutMs };
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      Client: PreparingClient,
      options: schema ? `-c search_path=${schema}` : undefined,
      connectionTimeoutMillis: timeoutMs,
      keywardLimits: pgLimits,
    } as pg.PoolConfig);
    // An idle connection the server dropped (a restart, a failover, an idle timeout) is an
    // 'error' on the pool, which pg then replaces on the next query; unheard, the event would
    // end the process.
    pool.on("error", (err) => {
      process.emitWarning(`PostgreSQL: an idle pooled connection failed (${err.message}); a new one replaces it`);
    });
    // A connection lost while checked out (mid-statement or mid-transaction) fails what runs
    // on it, and the pool drops it when it comes back. pg also emits 'error' on the client, and
    // pg-pool listens only while a client is idle: unheard, it would end the process too.
    pool.on("connect", (client) => {
      client.on("error", () => {});
    });
    // Nodes started at once may both create it: the loser's unique violation means it exists.
    if (schema)
      await pool.query(`create schema if not exists ${schema}`).catch((err: { code?: string }) => {
        if (err.code !== "23505") throw err;
      });
    const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { kysely, dialect: "postgres", pgPool: pool, pgLimits, schema, close: () => kysely.destroy() };
  }
  const file = url.replace(/^sqlite:(\/\/)?/, "");
  if (file !== ":memory:") {
    // Key hashes, sessions and the audit log: for Keyward's own user only. SQLite gives the
    // -wal and -shm files it creates the database file's mode.
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    closeSync(openSync(file, "a", 0o600));
  }
  const sqlite = new SQLite(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("synchronous = NORMAL");
  const kysely = new Kysely<Database>({
    dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }),
  });
  if (file === ":memory:") return { kysely, dialect: "sqlite", sqlite, close: () => kysely.destroy() };
  // Checkpoints run in a worker thread, not inside a commit on the event loop.
  sqlite.pragma("wal_autocheckpoint = 0");
  const checkpointer = startCheckpointer(file, (message) => {
    // Without the worker, SQLite's own checkpoints keep the WAL bounded again.
    if (sqlite.open) sqlite.pragma("wal_autocheckpoint = 1000");
    process.emitWarning(`SQLite checkpoint worker: ${message}`);
  });
  return {
    kysely,
    dialect: "sqlite",
    sqlite,
    close: async () => {
      await checkpointer.stop();
      await kysely.destroy();
    },
  };
}

/**
 * Brings the schema up to date; the same migrations serve both dialects.
 * Kysely's table check scans every schema with has_schema_privilege(), which fails when
 * another schema (or a table in it) is dropped at that moment (parallel test runs, another
 * tenant's cleanup): that error is retried, since migrating is idempotent.
 */
export async function migrate(db: Db): Promise<void> {
  // A migration may rewrite a large table: it is not held to the statements' answer timeout.
  const limits = db.pgLimits;
  const readTimeoutMs = limits?.readTimeoutMs ?? 0;
  if (limits) limits.readTimeoutMs = 0;
  try {
    await migrateRetrying(db);
  } finally {
    if (limits) limits.readTimeoutMs = readTimeoutMs;
  }
}

async function migrateRetrying(db: Db): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(db);
    } catch (err) {
      // `schema "other" …` or `relation "other.table" …`: something of another schema vanished.
      const m = /(?:schema|relation) "([^".]+)(?:\.[^"]+)?" does not exist/.exec((err as Error).message);
      const otherSchema = m && m[1] !== db.schema && (/^schema/.test(m[0]) || m[0].includes("."));
      if (!otherSchema || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

async function migrateOnce(db: Db): Promise<void> {
  const migrator = new Migrator({
    db: db.kysely,
    provider: { getMigrations: async () => migrations },
    migrationTableSchema: db.schema,
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    throw new Error(`migration ${failed?.migrationName ?? ""} failed: ${(error as Error)?.message ?? ""}`);
  }
}
