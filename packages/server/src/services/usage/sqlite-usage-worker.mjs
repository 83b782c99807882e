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

// A stored last use only ever moves forward. Counts of a key deleted since its use are
// skipped: its usage rows went with it.
const touch = db.prepare(
  "update api_keys set last_used_at = ?, last_used_ip = ? where id = ? and (last_used_at is null or last_used_at < ?)",
);
const add = db.prepare(
  "insert into key_usage (key_id, hour, count) select ?, ?, ? where exists (select 1 from api_keys where id = ?) " +
    "on conflict (key_id, hour) do update set count = key_usage.count + excluded.count",
);

const iso = (ms) => new Date(ms).toISOString();

/** One chunk (see UsageChunk in usage-writer.ts) in one transaction: all of it or none. */
const write = db.transaction((chunk) => {
  let writes = 0;
  for (let k = 0; k < chunk.keyIds.length; k++) {
    const at = chunk.lastUsedAt[k];
    if (at < 0) continue;
    writes++;
    touch.run(iso(at), chunk.lastUsedIp[k], chunk.keyIds[k], iso(at));
  }
  for (let i = 0; i < chunk.counts.length; i += 3) {
    const keyId = chunk.keyIds[chunk.counts[i]];
    writes++;
    add.run(keyId, iso(chunk.counts[i + 1]), chunk.counts[i + 2], keyId);
  }
  return writes;
});

parentPort?.on("message", (message) => {
  if (message === "stop") {
    db.close();
    parentPort?.close();
    return;
  }
  try {
    // IMMEDIATE: takes the write lock up front (waiting for the app's connection if need be).
    parentPort?.postMessage({ id: message.id, writes: write.immediate(message.chunk) });
  } catch (err) {
    parentPort?.postMessage({ id: message.id, error: String(err) });
  }
});
