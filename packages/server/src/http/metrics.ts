import type { FastifyReply, FastifyRequest } from "fastify";
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { UsageAggregator } from "../services/usage/usage-aggregator.js";
import type { KeyCache } from "../services/verify/key-cache.js";
import type { KeyLoader } from "../services/verify/key-loader.js";
import type { Db } from "../store/db.js";
import { RequestMetrics } from "./request-metrics.js";
import { scrapedCounter } from "./scraped-counter.js";

/** What the verify cache counts: its own fields, so a new counter needs no copy here. */
type CacheStats = Pick<KeyCache<unknown>, "size" | "stats">;
/** What the verify path's key loader counts. */
type LoaderStats = Pick<KeyLoader, "stats">;
/** What the cache of verifiers' right to verify counts. */
type CallerStats = Pick<KeyCache<unknown>, "stats">;
/** What the usage aggregator and its retention count. */
type UsageStats = Pick<UsageAggregator, "stats" | "retention">;

/** Prometheus metrics for one app instance (own registry: no globals). */
export function createMetrics(db: Db, cache: CacheStats, loader: LoaderStats, callers: CallerStats, usage: UsageStats) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new RequestMetrics(registry);
  new Gauge({
    name: "keyward_database_info",
    help: "Database dialect in use",
    labelNames: ["dialect"],
    registers: [registry],
    collect() {
      this.set({ dialect: db.dialect }, 1);
    },
  });
  // The verify cache's own counters, read when scraped (nothing on the verification path).
  new Gauge({
    name: "keyward_verify_cache_entries",
    help: "Resolved keys held by the verify cache",
    registers: [registry],
    collect() {
      this.set(cache.size);
    },
  });
  const { stats } = cache;
  scrapedCounter(
    registry,
    "keyward_verify_cache_lookups_total",
    "Verify cache lookups by result: hit, miss (the store was asked) or negative_hit (a cached unknown key)",
    () => [
      [{ result: "hit" }, stats.hits],
      [{ result: "miss" }, stats.misses],
      [{ result: "negative_hit" }, stats.negativeHits],
    ],
    ["result"],
  );
  scrapedCounter(
    registry,
    "keyward_verify_cache_invalidations_total",
    "Key changes heard (made on this node or by others); each drops the cached keys it touches, if any",
    () => [[{}, stats.invalidations]],
  );
  scrapedCounter(
    registry,
    "keyward_verify_cache_refreshes_total",
    "Keys in use reloaded in the background before their maximum age",
    () => [[{}, stats.refreshes]],
  );
  scrapedCounter(
    registry,
    "keyward_verify_cache_evictions_total",
    "Keys let go to stay within KEYWARD_CACHE_KEYS (each is loaded again on its next use)",
    () => [[{}, stats.evictions]],
  );
  scrapedCounter(
    registry,
    "keyward_verify_key_loads_total",
    "Keys the verify path read from the store (on cache misses and refreshes)",
    () => [[{}, loader.stats.keys]],
  );
  scrapedCounter(
    registry,
    "keyward_verify_key_load_statements_total",
    "Statements those reads took (on PostgreSQL, keys missed together are read by one)",
    () => [[{}, loader.stats.statements]],
  );
  scrapedCounter(
    registry,
    "keyward_verify_caller_checks_total",
    "Checks of a verifier's right to verify read from the store (dropped by changes to its key, grants or the operator org)",
    () => [[{}, callers.stats.loads]],
  );
  scrapedCounter(
    registry,
    "keyward_usage_flushes_total",
    "Batched writes of key usage by result (a failed one keeps its counts for the next)",
    () => [
      [{ result: "ok" }, usage.stats.flushes],
      [{ result: "failed" }, usage.stats.failedFlushes],
    ],
    ["result"],
  );
  scrapedCounter(
    registry,
    "keyward_usage_retention_deleted_rows_total",
    "Hourly usage counts deleted for being older than KEYWARD_USAGE_RETENTION_DAYS",
    () => [[{}, usage.retention.stats.deletedRows]],
  );
  scrapedCounter(
    registry,
    "keyward_usage_retention_failures_total",
    "Prunes of old usage counts that failed (the next one tries again)",
    () => [[{}, usage.retention.stats.failures]],
  );
  /** One answer (by route), `seconds` after its request arrived. */
  const record = (method: string, route: string, status: number, seconds: number) =>
    requests.record(method, route, status, seconds);
  return {
    registry,
    record,
    /** One answer Fastify gave. */
    observe: (req: FastifyRequest, reply: FastifyReply, seconds: number) =>
      record(req.method, req.routeOptions?.url ?? "unmatched", reply.statusCode, seconds),
  };
}
