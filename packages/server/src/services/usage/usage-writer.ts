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
/** A fixed order for rows (any will do: flushes on every node sort alike, so they lock alike). */
const ascending = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Statements a writer has issued, so the benchmark can tell flushes from the verify path. */
export interface WriterStats {
  reads: number;
  writes: number;
}

/**
 * Per entry of a flush (counted over its parts in the order they were added): 1 once the
 * transaction holding its counts has committed, 0 while it has not (for good, after a failure:
 * kept for the next flush). A flush commits in several transactions, and the flags are set as
 * each one commits, not when the whole flush answers, so a usage read stops counting an entry
 * as in flight as soon as the database has it. Shared memory: a writer thread sets them.
 */
export const storedFlags = (entries: number): Uint8Array => new Uint8Array(new SharedArrayBuffer(entries));

/** One flush being handed to a writer: parts are added in turn, then committed. */
export interface FlushWrite {
  add(part: UsageChunk): void;
  /**
   * Writes every part added, setting each entry's flag in `stored` (from {@link storedFlags})
   * as its transaction commits. Answers the error that stopped it, or null when all of it is
   * stored; either way `stored` then tells which entries are.
   */
  commit(stats: WriterStats, stored: Uint8Array): Promise<Error | null>;
}

/**
 * How a usage read tells that no flush committed counts while it read (see
 * UsageAggregator.consistentRead): `[COMMITTING]` is the transactions of counts between sending
 * their COMMIT and flagging their entries stored, `[COMMITS]` how many have been flagged so far.
 * Shared memory for the SQLite writer thread; read with Atomics.
 */
export const COMMITTING = 0;
export const COMMITS = 1;
export const newCommitWatch = (shared: boolean) =>
  new Int32Array(shared ? new SharedArrayBuffer(8) : new ArrayBuffer(8));

/**
 * Writes usage rows. Keys deleted since their use are skipped (their usage rows went with
 * them); a stored last use is only ever moved forward.
 */
export interface UsageWriter {
  /** Its commits of counts, as they happen (see {@link COMMITTING}). */
  readonly watch: Int32Array;
  /** Keys per part: the caller yields to requests between parts. */
  readonly partSize: number;
  /** Whether its statements go through the query builder (and so through Kysely plugins). */
  readonly viaQueryBuilder: boolean;
  begin(): FlushWrite;
  /** Deletes the counts of hours that start before `before` (epoch ms); returns the rows deleted. */
  prune(before: number, stats: WriterStats): Promise<number>;
  close(): Promise<void>;
}

/** Any fixed number: with the schema, the PostgreSQL advisory lock a node holds while it prunes usage. */
export const PRUNE_LOCK = 0x6b777570; // "kwup"

export interface UsageWriterOptions {
  /** Keys per transaction (tests make it small). */
  transactionRows?: number;
  /**
   * Tests only: awaited after each transaction of a flush's counts commits (its entries
   * flagged stored), before the next one starts, so a test can read usage in between.
   */
  afterTransaction?: () => Promise<void>;
}

/**
 * A SQLite file gets its usage written by a worker thread with its own connection: SQLite
 * runs statements synchronously, and on the event loop tens of thousands of keys per flush
 * held up requests for seconds (bench/RESULTS.md). PostgreSQL (and an in-memory SQLite
 * database, which no other connection can open) go through the query builder.
 */
export function createUsageWriter(db: Db, opts: UsageWriterOptions = {}): UsageWriter {
  if (db.sqlite && !db.sqlite.memory) return new SqliteWorkerUsageWriter(db.sqlite.name, opts);
  return new QueryBuilderUsageWriter(
    db,
    opts.transactionRows ?? 200,
    opts.transactionRows ?? 5000,
    opts.afterTransaction,
  );
}

/** Each part is one transaction of three statements; the last-use update joins a VALUES list by primary key. */
class QueryBuilderUsageWriter implements UsageWriter {
  readonly viaQueryBuilder = true;
  readonly watch = newCommitWatch(false);
  constructor(
    private readonly db: Db,
    readonly partSize: number,
    /** Rows deleted per transaction by {@link prune}. */
    private readonly pruneRows: number,
    private readonly afterTransaction?: () => Promise<void>,
  ) {}

  begin(): FlushWrite {
    const parts: UsageChunk[] = [];
    return {
      add: (part) => parts.push(part),
      commit: async (stats, stored) => {
        let done = 0;
        const watch = this.watch;
        for (const part of parts) {
          let committing = false;
          try {
            await this.writePart(part, stats, () => {
              committing = true;
              Atomics.add(watch, COMMITTING, 1);
            });
          } catch (err) {
            if (committing) Atomics.sub(watch, COMMITTING, 1);
            return err as Error;
          }
          // Committed: reads stop counting these entries as in flight now, not at the end.
          stored.fill(1, done, done + part.keyIds.length);
          done += part.keyIds.length;
          if (committing) {
            Atomics.add(watch, COMMITS, 1);
            Atomics.sub(watch, COMMITTING, 1);
          }
          await this.afterTransaction?.();
        }
        return null;
      },
    };
  }

  /**
   * One part in one transaction. On PostgreSQL it notes the transaction's id, so that when the
   * answer to its commit is lost (the connection dropped as it committed) it asks on another
   * connection whether it committed: counts stored but reported failed would be put back onto
   * their tallies and written twice.
   */
  private async writePart(chunk: UsageChunk, stats: WriterStats, committing: () => void): Promise<void> {
    const pg = this.db.dialect === "postgres";
    let txid = null as string | null;
    try {
      await this.db.kysely.transaction().execute(async (trx) => {
        stats.reads++;
        // On PostgreSQL the same statement notes the transaction's id (see writePart).
        const found = pg
          ? await trx
              .selectFrom("api_keys")
              .select(["id", sql<string>`txid_current()::text`.as("tx")])
              .where("id", "in", chunk.keyIds)
              .execute()
          : await trx.selectFrom("api_keys").select("id").where("id", "in", chunk.keyIds).execute();
        if (found.length > 0 && "tx" in found[0]) txid = String(found[0].tx);
        const existing = new Set(found.map((r) => r.id));
        // Rows are written in key order: another node's flush of the same keys locks them in the
        // same order, so the two wait for each other instead of deadlocking.
        const due = chunk.keyIds
          .flatMap((id, k) => (existing.has(id) && chunk.lastUsedAt[k] >= 0 ? [k] : []))
          .sort((a, b) => ascending(chunk.keyIds[a], chunk.keyIds[b]))
          .map((k) => sql`(${chunk.keyIds[k]}, ${iso(chunk.lastUsedAt[k])}, ${chunk.lastUsedIp[k]})`);
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
        counts.sort((a, b) => ascending(a.key_id, b.key_id) || ascending(a.hour, b.hour));
        stats.writes++;
        await trx
          .insertInto("key_usage")
          .values(counts)
          .onConflict((oc) =>
            oc.columns(["key_id", "hour"]).doUpdateSet({ count: sql`key_usage.count + excluded.count` }),
          )
          .execute();
        committing(); // the COMMIT goes next
      });
    } catch (err) {
      if (txid !== null && (await this.committed(txid, stats))) return;
      throw err;
    }
  }

  /**
   * Whether PostgreSQL transaction `txid` committed, asked on another connection; false when
   * that cannot be told. One still in progress (the server has not yet seen its connection
   * drop) is asked about again for a while: it either commits or aborts.
   */
  private async committed(txid: string, stats: WriterStats): Promise<boolean> {
    for (let attempt = 0; attempt < 10; attempt++) {
      let status: string | null | undefined;
      try {
        stats.reads++;
        const r = await sql<{ s: string | null }>`select txid_status(${txid}::bigint) as s`.execute(this.db.kysely);
        status = r.rows[0]?.s;
      } catch {
        return false;
      }
      if (status !== "in progress") return status === "committed";
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /**
   * In transactions of `pruneRows` rows: a retention shortened by months would otherwise delete
   * them all in one long transaction. On PostgreSQL one node of a cluster prunes at a time: each
   * transaction takes a lock, and a node that finds it taken leaves the round to the other. A
   * BRIN index on the hour (migration 0004) finds the old rows without reading the whole table.
   */
  async prune(before: number, stats: WriterStats): Promise<number> {
    const pg = this.db.dialect === "postgres";
    const [hour, limit] = [iso(before), this.pruneRows];
    let deleted = 0;
    for (;;) {
      const n = await this.db.kysely.transaction().execute(async (trx) => {
        if (pg) {
          stats.reads++;
          const lock = await sql<{
            got: boolean;
          }>`select pg_try_advisory_xact_lock(${PRUNE_LOCK}, hashtext(current_schema())) as got`.execute(trx);
          if (!lock.rows[0]?.got) return null;
        }
        stats.writes++;
        // PostgreSQL deletes the rows found by their physical address (ctid): 3.5-4.2 ms per
        // 5,000 rows, where finding them again by primary key took 40-50 ms (bench/RESULTS.md).
        const r = pg
          ? await sql`delete from key_usage where ctid = any(array(
                select ctid from key_usage where hour < ${hour} limit ${limit}))`.execute(trx)
          : await sql`delete from key_usage where (hour, key_id) in (
                select hour, key_id from key_usage where hour < ${hour} limit ${limit})`.execute(trx);
        return Number(r.numAffectedRows ?? 0);
      });
      if (n === null) return deleted;
      deleted += n;
      if (n < limit) return deleted;
    }
  }

  async close(): Promise<void> {}
}

/** The worker's answer to a commit (its entries' flags are in the shared `stored`) or a prune (`deleted`). */
interface Reply {
  id: number;
  writes: number;
  deleted?: number;
  error?: string;
}

/** Tests only: the worker waits after a transaction of flush `id` for `{ id, resume: true }` (see UsageWriterOptions). */
interface Paused {
  id: number;
  paused: true;
}

interface Waiting {
  stats: WriterStats;
  settle: (reply: Reply) => void;
}

/**
 * Hands a flush to sqlite-usage-worker.mjs part by part; on commit the worker writes all of it
 * with prepared statements, in transactions of neighbouring rows (see the worker). Transaction
 * size trades disk writes against lock time: a write from the app's own connection waits for
 * the lock. The event loop only builds and copies flat arrays (well under 1 ms per part).
 * Measured on 33,000 random keys of 100,000, last uses and counts (bench/RESULTS.md): in
 * random order 2,000 keys per transaction cost 33 µs of CPU per key; in table order 14 µs.
 */
class SqliteWorkerUsageWriter implements UsageWriter {
  readonly partSize = 1000;
  readonly viaQueryBuilder = false;
  /** Shared with the thread, which counts its commits of counts here. */
  readonly watch = newCommitWatch(true);
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  constructor(
    private readonly file: string,
    private readonly opts: UsageWriterOptions = {},
  ) {}

  /** The worker, started on first use and again after a crash. */
  private started(): Worker {
    if (this.worker) return this.worker;
    const { transactionRows, afterTransaction } = this.opts;
    const worker = startSqliteThread(new URL("./sqlite-usage-worker.mjs", import.meta.url), this.file, {
      transactionRows,
      pause: afterTransaction !== undefined,
      watch: this.watch.buffer,
    });
    worker.on("message", (m: Reply | Paused) => {
      if ("paused" in m) {
        const resume = () => worker.postMessage({ id: m.id, resume: true });
        void afterTransaction?.().then(resume, resume);
        return;
      }
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      w.stats.writes += m.writes;
      w.settle(m);
    });
    // A failed thread fails the flushes waiting on it (the entries it flagged stored were
    // committed; nothing else is known to be); the next flush starts a new one.
    const fail = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      Atomics.store(this.watch, COMMITTING, 0); // a commit it was making is flagged or lost
      for (const [id, w] of this.waiting) w.settle({ id, writes: 0, error: `usage writer thread ${why}` });
      this.waiting.clear();
    };
    worker.on("error", (err: unknown) => fail(`failed: ${(err as Error)?.message ?? String(err)}`));
    worker.on("exit", (code) => fail(`exited (${code})`));
    this.worker = worker;
    return worker;
  }

  begin(): FlushWrite {
    const id = this.nextId++;
    let worker: Worker | null = null;
    return {
      add: (part) => {
        worker ??= this.started();
        worker.postMessage({ id, part });
      },
      commit: (stats, stored) => {
        // A worker that died while parts were handed over has lost them: nothing is stored.
        if (worker && worker !== this.worker) return Promise.resolve(new Error("usage writer thread exited"));
        const w = worker ?? this.started();
        // Referenced while a write is in flight: shutdown waits for the last flush.
        w.ref();
        return new Promise((resolve) => {
          const settle = (m: Reply) => resolve(m.error === undefined ? null : new Error(m.error));
          this.waiting.set(id, { stats, settle });
          // `stored` is shared, not copied: the worker flags entries as each transaction commits.
          w.postMessage({ id, commit: true, stored });
        });
      },
    };
  }

  /** On the worker, in batches of `transactionRows` (see the worker's prune). */
  prune(before: number, stats: WriterStats): Promise<number> {
    const w = this.started();
    const id = this.nextId++;
    w.ref();
    return new Promise((resolve, reject) => {
      const settle = (m: Reply) => (m.error === undefined ? resolve(m.deleted ?? 0) : reject(new Error(m.error)));
      this.waiting.set(id, { stats, settle });
      w.postMessage({ id, pruneBefore: iso(before) });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    await stopSqliteThread(worker);
  }
}
