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
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createKeyward } from "../src/compose.js";
import { loadConfig } from "../src/config.js";

const counts = { reads: 0, writes: 0 };

/** Counts every statement by kind; it changes nothing. */
class CountingPlugin implements KyselyPlugin {
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (args.node.kind === "SelectQueryNode") counts.reads++;
    else counts.writes++;
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
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
// The event loop's delay while a latency probe runs (a stall inside the server, as opposed to
// the machine's): on only between POST and DELETE, so the throughput runs pay no timer for it.
const loop = monitorEventLoopDelay({ resolution: 1 });
kw.app.post("/bench/loop-delay", { schema: { hide: true } }, async () => {
  loop.reset();
  loop.enable();
  return { ok: true };
});
kw.app.delete("/bench/loop-delay", { schema: { hide: true } }, async () => {
  loop.disable();
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  return { p99: ms(loop.percentile(99)), max: ms(loop.max) };
});
process.on("SIGTERM", () => void kw.close().then(() => process.exit(0)));
await kw.app.listen({ port: config.port, host: "127.0.0.1" });
process.stdout.write("ready\n");
