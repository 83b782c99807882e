// Writes key usage to a SQLite database file from its own thread (see usage-writer.ts), so the
// statements never run on the server's event loop. Plain JavaScript so it loads the same
// under tsx, vitest and node.
import { parentPort, workerData } from "node:worker_threads";
import { openBackgroundConnection } from "../../store/sqlite-thread.mjs";

const db = openBackgroundConnection(workerData);
db.pragma("foreign_keys = ON");
// Used keys are spread over the whole table: a page cache that holds it (64 MB at most)
// saves re-reading pages from the file for every key.
db.pragma("cache_size = -65536");

/** Rows per transaction: a write from the app's own connection waits at most one of them. */
const TRANSACTION_ROWS = workerData.transactionRows ?? 2000;
/** Tests only: wait for the app's word after each transaction of counts (see usage-writer.ts). */
const PAUSE = workerData.pause === true;
/**
 * Shared with the app (see COMMITTING in usage-writer.ts): [0] transactions of counts between
 * their COMMIT and their entries flagged stored, [1] how many have been flagged so far.
 */
const watch = workerData.watch ? new Int32Array(workerData.watch) : new Int32Array(2);

const rowidOf = db.prepare("select rowid from api_keys where id = ?").pluck();
// A stored last use only ever moves forward (so writing one twice is harmless). The id is
// checked too: a VACUUM may renumber rowids between the lookup and the update.
const touch = db.prepare(
  "update api_keys set last_used_at = ?, last_used_ip = ? where rowid = ? and id = ? and (last_used_at is null or last_used_at < ?)",
);
// Counts of a key deleted since its use are skipped: its usage rows went with it, and the
// foreign key refuses a new one (see addCount). An `exists` check of its own cost 15–25 %
// of the counts' time (bench/RESULTS.md).
const add = db.prepare(
  "insert into key_usage (key_id, hour, count) values (?, ?, ?) " +
    "on conflict (key_id, hour) do update set count = key_usage.count + excluded.count",
);

// Usage past its retention, TRANSACTION_ROWS rows at a time (key_usage is stored by hour:
// the oldest rows are found first, along its primary key).
const expire = db.prepare(
  "delete from key_usage where (hour, key_id) in (select hour, key_id from key_usage where hour < ? limit ?)",
);

/** Adds a count; a key gone since is skipped (only that statement is undone, not its transaction). */
function addCount(keyId, hour, count) {
  try {
    add.run(keyId, hour, count);
  } catch (err) {
    if (err?.code !== "SQLITE_CONSTRAINT_FOREIGNKEY") throw err;
  }
}

const iso = (ms) => new Date(ms).toISOString();
/** Nearly every count of a flush is for the same hour or two: their text is made once. */
const hourIso = (() => {
  let last = Number.NaN;
  let text = "";
  return (ms) => {
    if (ms !== last) {
      last = ms;
      text = iso(ms);
    }
    return text;
  };
})();

/**
 * The rowid of every entry whose last use is written, as {rowid, k} (keys deleted since are
 * left out). One read transaction for them all: a lookup on its own pays for taking and
 * releasing the shared lock each time.
 */
const lookUpRows = db.transaction((chunk) => {
  const rows = [];
  for (let k = 0; k < chunk.keyIds.length; k++) {
    if (chunk.lastUsedAt[k] < 0) continue;
    const rowid = rowidOf.get(chunk.keyIds[k]);
    if (rowid !== undefined) rows.push({ rowid, k });
  }
  return rows;
});

const begin = db.prepare("BEGIN IMMEDIATE");
const commit = db.prepare("COMMIT");
const rollback = db.prepare("ROLLBACK");

/**
 * Runs `fn` on `items` in IMMEDIATE transactions of TRANSACTION_ROWS (each all or nothing;
 * IMMEDIATE takes the write lock up front, waiting for the app's connection if need be).
 * `done(from, to)` after each commit, awaited when it returns a promise (only a test's pause
 * does). With `watched`, each COMMIT and its `done` are counted in `watch`: what `done` flags
 * is what a usage read must not count twice, nor miss.
 */
async function inTransactions(items, fn, done = () => {}, watched = false) {
  let writes = 0;
  for (let from = 0; from < items.length; from += TRANSACTION_ROWS) {
    const to = Math.min(items.length, from + TRANSACTION_ROWS);
    begin.run();
    try {
      for (let i = from; i < to; i++) writes += fn(items[i]);
    } catch (err) {
      if (db.inTransaction) rollback.run();
      throw err;
    }
    if (watched) Atomics.add(watch, 0, 1);
    try {
      commit.run();
    } catch (err) {
      if (watched) Atomics.sub(watch, 0, 1);
      if (db.inTransaction) rollback.run();
      throw err;
    }
    const waiting = done(from, to);
    if (watched) {
      Atomics.add(watch, 1, 1);
      Atomics.sub(watch, 0, 1);
    }
    if (waiting) await waiting;
  }
  return writes;
}

/** Tests only: per flush id, what lets its write go on after a pause. */
const resumes = new Map();
const paused = (id) =>
  new Promise((resolve) => {
    resumes.set(id, resolve);
    parentPort?.postMessage({ id, paused: true });
  });

/**
 * Writes one flush (the parts UsageChunk in usage-writer.ts, concatenated) in an order that
 * keeps the pages it changes few. Keys are used in random order, and every page a transaction
 * changes is written to the WAL and again at the checkpoint: in random order nearly every key
 * costs a page of its own. So last uses are written in rowid order (the table's order) and
 * counts in key id order (key_usage is stored by hour, then key id: a flush's counts are
 * nearly all of one hour), each transaction a run of neighbouring rows. Last uses go first:
 * writing one again is harmless, so a failure among them leaves every count to the next
 * flush. Sets each entry's flag in `stored` (shared with the app, see storedFlags in
 * usage-writer.ts) as the transaction with its counts commits, so the app stops counting it
 * as in flight then. Returns the statements run, and the error that stopped it.
 */
async function writeFlush(id, chunk, stored) {
  const n = chunk.keyIds.length;
  const result = { writes: 0, error: null };
  try {
    const touches = lookUpRows(chunk);
    touches.sort((a, b) => a.rowid - b.rowid);
    result.writes += await inTransactions(touches, ({ rowid, k }) => {
      const at = iso(chunk.lastUsedAt[k]);
      touch.run(at, chunk.lastUsedIp[k], rowid, chunk.keyIds[k], at);
      return 1;
    });

    /** Per entry: its [hour, count, hour, count, …]. */
    const counts = Array.from({ length: n }, () => []);
    for (let i = 0; i < chunk.counts.length; i += 3)
      counts[chunk.counts[i]].push(chunk.counts[i + 1], chunk.counts[i + 2]);
    const order = Array.from({ length: n }, (_, k) => k).sort((a, b) =>
      chunk.keyIds[a] < chunk.keyIds[b] ? -1 : chunk.keyIds[a] > chunk.keyIds[b] ? 1 : 0,
    );
    result.writes += await inTransactions(
      order,
      (k) => {
        const keyId = chunk.keyIds[k];
        const c = counts[k];
        for (let j = 0; j < c.length; j += 2) addCount(keyId, hourIso(c[j]), c[j + 1]);
        return c.length / 2;
      },
      (from, to) => {
        // Atomics: the app reads the flags while this flush goes on.
        for (let i = from; i < to; i++) Atomics.store(stored, order[i], 1);
        return PAUSE ? paused(id) : undefined;
      },
      true,
    );
  } catch (err) {
    result.error = String(err);
  }
  return result;
}

/**
 * Deletes the counts of hours before `beforeIso`, each batch in its own transaction, so a
 * write from the app's own connection waits one batch at most. Between batches the thread
 * turns to its other messages: a flush handed over meanwhile is written without waiting for
 * the whole prune (a first prune may find months of rows). Returns the rows deleted and the
 * statements run (a failure keeps the batches before it deleted).
 */
async function prune(beforeIso) {
  const batch = db.transaction(() => expire.run(beforeIso, TRANSACTION_ROWS).changes);
  const result = { deleted: 0, writes: 0 };
  try {
    let n;
    do {
      result.writes++;
      n = batch.immediate();
      result.deleted += n;
      await new Promise((resolve) => setImmediate(resolve));
    } while (n === TRANSACTION_ROWS);
  } catch (err) {
    result.error = String(err);
  }
  return result;
}

/** Flushes being handed over, by id: their parts so far, concatenated (a UsageChunk each). */
const open = new Map();
const emptyChunk = () => ({ keyIds: [], lastUsedAt: [], lastUsedIp: [], counts: [] });

parentPort?.on("message", (message) => {
  if (message === "stop") {
    db.close();
    parentPort?.close();
    return;
  }
  const { id, part, commit, stored, resume, pruneBefore } = message;
  if (resume) {
    resumes.get(id)?.();
    resumes.delete(id);
    return;
  }
  if (pruneBefore !== undefined) {
    void prune(pruneBefore).then((result) => parentPort?.postMessage({ id, ...result }));
    return;
  }
  if (part) {
    const into = open.get(id) ?? emptyChunk();
    const offset = into.keyIds.length;
    for (let k = 0; k < part.keyIds.length; k++) {
      into.keyIds.push(part.keyIds[k]);
      into.lastUsedAt.push(part.lastUsedAt[k]);
      into.lastUsedIp.push(part.lastUsedIp[k]);
    }
    for (let i = 0; i < part.counts.length; i += 3)
      into.counts.push(part.counts[i] + offset, part.counts[i + 1], part.counts[i + 2]);
    open.set(id, into);
  }
  if (commit) {
    const chunk = open.get(id) ?? emptyChunk();
    open.delete(id);
    void writeFlush(id, chunk, stored).then(({ writes, error }) =>
      parentPort?.postMessage({ id, writes, ...(error === null ? {} : { error }) }),
    );
  }
});
