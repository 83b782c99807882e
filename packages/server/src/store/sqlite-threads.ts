import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * Starts a background thread on a SQLite file (`script` opens its connection with
 * `openBackgroundConnection` from sqlite-thread.mjs). Unreferenced: it never keeps the process
 * alive by itself. `data` is passed on in `workerData` beside the file and the driver's path.
 */
export function startSqliteThread(script: URL, file: string, data: Record<string, unknown> = {}): Worker {
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(script, { workerData: { ...data, file, driver } });
  worker.unref();
  return worker;
}

/** Asks a thread started by {@link startSqliteThread} to close its connection, and waits for it to exit. */
export async function stopSqliteThread(worker: Worker): Promise<void> {
  if (worker.threadId === -1) return; // already gone (it failed, or was stopped before)
  const exited = new Promise((resolve) => worker.once("exit", resolve));
  worker.ref(); // an unreferenced thread would let the process exit before it closes
  worker.postMessage("stop");
  await exited;
}
