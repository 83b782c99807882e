// What every background thread on the SQLite file starts with (the usage writer, the
// checkpointer). Plain JavaScript so it loads the same under tsx, vitest and node.
import { createRequire } from "node:module";
import { setPriority } from "node:os";

/**
 * Lowers this thread's CPU priority (Linux applies it per thread: background work must not
 * take a core from the threads answering requests) and opens its own connection to `file`
 * with better-sqlite3, loaded from `driver` (its resolved path, passed by the app).
 */
export function openBackgroundConnection({ driver, file }) {
  try {
    setPriority(19);
  } catch {
    // not permitted here: run at normal priority
  }
  const SQLite = createRequire(import.meta.url)(driver);
  const db = new SQLite(file);
  db.pragma("busy_timeout = 5000");
  db.pragma("synchronous = NORMAL");
  return db;
}
