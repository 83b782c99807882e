/**
 * The benchmark's Keyward server: the real app (createKeyward, as main.ts builds it) plus a
 * statement counter on the database and GET /bench/stats. Config comes from the environment.
 */
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from "kysely";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { createKeyward } from "../src/compose.js";
import { loadConfig } from "../src/config.js";

const counts = { reads: 0, writes: 0 };

/**
 * Counts every statement run, by kind: a write reports the rows it changed, a read does not.
 * Counted from results, so a query compiled once and run many times (the key loader's) counts
 * every run. It changes nothing.
 */
class CountingPlugin implements KyselyPlugin {
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (args.result.numAffectedRows === undefined) counts.reads++;
    else counts.writes++;
    return args.result;
  }
}

const config = loadConfig();
const kw = await createKeyward(config, { logger: false });
kw.db.kysely = kw.db.kysely.withPlugin(new CountingPlugin());
const { verify } = kw.services;
if (process.env.BENCH_NO_FLUSH) verify.usage.stop();
kw.app.get("/bench/stats", { schema: { hide: true } }, async () => ({
  ...counts,
  flushWrites: verify.usage.stats.writes,
  flushReads: verify.usage.stats.reads,
  // SQLite flushes run in a worker thread on its own connection: the counter above never sees them.
  flushViaQueryBuilder: verify.usage.flushesViaQueryBuilder,
  verified: verify.usage.stats.recorded,
  cache: { ...verify.cache.stats, size: verify.cache.size },
  rssMb: Math.round(process.memoryUsage().rss / 1e6),
}));
kw.app.post("/bench/flush", { schema: { hide: true } }, async () => {
  await verify.usage.flush(true);
  return { ok: true };
});
// The event loop's delay while a latency probe runs (the server's stalls, plus any time the
// machine kept its thread off a CPU: bench/run.ts reads that apart), and its garbage
// collections in the same window (the collector's share). On only between POST and DELETE,
// so the throughput runs pay nothing for them.
const loop = monitorEventLoopDelay({ resolution: 1 });
const gc = { pauses: 0, ms: 0, maxMs: 0 };
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.pauses++;
    gc.ms += e.duration;
    gc.maxMs = Math.max(gc.maxMs, e.duration);
  }
});
kw.app.post("/bench/loop-delay", { schema: { hide: true } }, async () => {
  loop.reset();
  loop.enable();
  Object.assign(gc, { pauses: 0, ms: 0, maxMs: 0 });
  gcObserver.observe({ entryTypes: ["gc"] });
  return { ok: true };
});
kw.app.delete("/bench/loop-delay", { schema: { hide: true } }, async () => {
  loop.disable();
  gcObserver.disconnect();
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    p99: ms(loop.percentile(99)),
    max: ms(loop.max),
    gcPauses: gc.pauses,
    gcMs: round(gc.ms),
    gcMaxMs: round(gc.maxMs),
  };
});
process.on("SIGTERM", () => void kw.close().then(() => process.exit(0)));
await kw.app.listen({ port: config.port, host: "127.0.0.1" });
process.stdout.write("ready\n");
