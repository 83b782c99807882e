import { startSqliteThread, stopSqliteThread } from "./sqlite-threads.js";

export interface Checkpointer {
  stop(): Promise<void>;
}

/**
 * Moves SQLite's WAL checkpoints off the event loop. A checkpoint copies the write-ahead log
 * into the database file and fsyncs it; left to SQLite, it runs inside whichever commit
 * crosses 1,000 pages, on the event loop, and stalls every request for tens of milliseconds
 * (bench/RESULTS.md). The app's connection turns automatic checkpoints off
 * (`wal_autocheckpoint = 0`) and this worker thread, with its own connection, runs a passive
 * checkpoint every `intervalMs`. Durability is unchanged: commits still go to the WAL as before.
 */
export function startCheckpointer(file: string, onError: (message: string) => void, intervalMs = 1_000): Checkpointer {
  const worker = startSqliteThread(new URL("./sqlite-checkpoint-worker.mjs", import.meta.url), file, { intervalMs });
  worker.on("message", (m: { error?: string }) => m.error && onError(m.error));
  worker.on("error", (err) => onError(String(err)));
  return { stop: () => stopSqliteThread(worker) };
}
