import type { FastifyReply, FastifyRequest } from "fastify";
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { KeyCache } from "../services/verify/key-cache.js";
import type { Db } from "../store/db.js";
import { RequestMetrics } from "./request-metrics.js";
import { scrapedCounter } from "./scraped-counter.js";

/** What the verify cache counts: its own fields, so a new counter needs no copy here. */
type CacheStats = Pick<KeyCache<unknown>, "size" | "stats">;

/** Prometheus metrics for one app instance (own registry: no globals). */
export function createMetrics(db: Db, cache: CacheStats) {
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
    "Key changes that dropped cached keys (heard on this node or from others)",
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
