import type { Worker } from "node:worker_threads";
import { sql } from "kysely";
import type { Db } from "../../store/db.js";
import { startSqliteThread, stopSqliteThread } from "../../store/sqlite-threads.js";

/**
 * Gathered usage of some keys, ready to write, as flat arrays: copying it to the writer
 * thread costs the event loop little, where an object per key cost microseconds each.
 */
export interface UsageChunk {
  keyIds: string[];
  /** Per key: its last use (epoch ms) to store, or -1 when this flush leaves it alone. */
  lastUsedAt: number[];
  lastUsedIp: (string | null)[];
  /** Request counts, three numbers each: index into keyIds, hour start (epoch ms), count. */
  counts: number[];
}

export const newChunk = (): UsageChunk => ({ keyIds: [], lastUsedAt: [], lastUsedIp: [], counts: [] });

const iso = (ms: number) => new Date(ms).toISOString();

/** Statements a writer has issued, so the benchmark can tell flushes from the verify path. */
export interface WriterStats {
  reads: number;
  writes: number;
}

/**
 * Writes usage rows. Keys deleted since their use are skipped (their usage rows went with
 * them); a stored last use is only ever moved forward.
 */
export interface UsageWriter {
  /** Rows written per call: the caller yields to requests between calls. */
  readonly chunkSize: number;
  /** Whether its statements go through the query builder (and so through Kysely plugins). */
  readonly viaQueryBuilder: boolean;
  write(chunk: UsageChunk, stats: WriterStats): Promise<void>;
  close(): Promise<void>;
}

/**
 * A SQLite file gets its usage written by a worker thread with its own connection: SQLite
 * runs statements synchronously, and on the event loop tens of thousands of keys per flush
 * held up requests for seconds (bench/RESULTS.md). PostgreSQL (and an in-memory SQLite
 * database, which no other connection can open) go through the query builder.
 */
export function createUsageWriter(db: Db): UsageWriter {
  if (db.sqlite && !db.sqlite.memory) return new SqliteWorkerUsageWriter(db.sqlite.name);
  return new QueryBuilderUsageWriter(db);
}

/** A chunk is three statements in one transaction; the last-use update joins a VALUES list by primary key. */
class QueryBuilderUsageWriter implements UsageWriter {
  readonly chunkSize = 200;
  readonly viaQueryBuilder = true;
  constructor(private readonly db: Db) {}

  async write(chunk: UsageChunk, stats: WriterStats): Promise<void> {
    await this.db.kysely.transaction().execute(async (trx) => {
      stats.reads++;
      const found = await trx.selectFrom("api_keys").select("id").where("id", "in", chunk.keyIds).execute();
      const existing = new Set(found.map((r) => r.id));
      const due = chunk.keyIds.flatMap((id, k) =>
        existing.has(id) && chunk.lastUsedAt[k] >= 0
          ? [sql`(${id}, ${iso(chunk.lastUsedAt[k])}, ${chunk.lastUsedIp[k]})`]
          : [],
      );
      if (due.length > 0) {
        stats.writes++;
        await sql`update api_keys set last_used_at = v.column2, last_used_ip = v.column3
          from (values ${sql.join(due)}) as v
          where api_keys.id = v.column1 and (api_keys.last_used_at is null or api_keys.last_used_at < v.column2)`.execute(
          trx,
        );
      }
      const counts: { key_id: string; hour: string; count: number }[] = [];
      for (let i = 0; i < chunk.counts.length; i += 3) {
        const id = chunk.keyIds[chunk.counts[i]];
        if (existing.has(id)) counts.push({ key_id: id, hour: iso(chunk.counts[i + 1]), count: chunk.counts[i + 2] });
      }
      if (counts.length === 0) return;
      stats.writes++;
      await trx
        .insertInto("key_usage")
        .values(counts)
        .onConflict((oc) =>
          oc.columns(["key_id", "hour"]).doUpdateSet({ count: sql`key_usage.count + excluded.count` }),
        )
        .execute();
    });
  }

  async close(): Promise<void> {}
}

interface Waiting {
  resolve: (writes: number) => void;
  reject: (err: Error) => void;
}

/**
 * Hands chunks to sqlite-usage-worker.mjs, which writes each with prepared statements in one
 * transaction. The size trades disk writes against lock time: keys are used in random order,
 * so every key costs about one page written per transaction it is in (bigger transactions
 * share pages), while a write from the app's own connection waits for the lock. Measured on
 * 22,000 random keys of 50,000 (bench/RESULTS.md): 250 keys per transaction cost 0.76 s of
 * CPU per flush, 2,000 cost 0.58 s and hold the lock ~40 ms, 5,000 cost 0.47 s but hold it
 * ~130 ms. The event loop only builds and copies flat arrays (about 1 ms per chunk).
 */
class SqliteWorkerUsageWriter implements UsageWriter {
  readonly chunkSize = 2000;
  readonly viaQueryBuilder = false;
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  constructor(private readonly file: string) {}

  /** The worker, started on first use and again after a crash. */
  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = startSqliteThread(new URL("./sqlite-usage-worker.mjs", import.meta.url), this.file);
    worker.on("message", (m: { id: number; writes?: number; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.writes ?? 0);
    });
    // A failed thread fails the writes waiting on it; the next write starts a new one.
    const fail = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      const err = new Error(`usage writer thread ${why}`);
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on("error", (err: unknown) => fail(`failed: ${(err as Error)?.message ?? String(err)}`));
    worker.on("exit", (code) => fail(`exited (${code})`));
    this.worker = worker;
    return worker;
  }

  async write(chunk: UsageChunk, stats: WriterStats): Promise<void> {
    const worker = this.started();
    const id = this.nextId++;
    // Referenced while a write is in flight: shutdown waits for the last flush.
    worker.ref();
    const writes = await new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, chunk });
    });
    stats.writes += writes;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    await stopSqliteThread(worker);
  }
}
