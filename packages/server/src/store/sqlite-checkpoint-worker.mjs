// Checkpoints a SQLite WAL database from its own thread (see sqlite-checkpointer.ts).
// Plain JavaScript so it loads the same under tsx, vitest and node.
import { parentPort, workerData } from "node:worker_threads";
import { openBackgroundConnection } from "./sqlite-thread.mjs";

const db = openBackgroundConnection(workerData);

const timer = setInterval(() => {
  try {
    // PASSIVE: copies what it can without waiting for or blocking the app's connection.
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (err) {
    parentPort?.postMessage({ error: String(err) });
  }
}, workerData.intervalMs);

parentPort?.on("message", (message) => {
  if (message !== "stop") return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
