import type { Deps } from "../deps.js";
import { createRateLimiter } from "../ratelimit/index.js";
import { TokenService } from "../tokens/token-service.js";
import { UsageAggregator } from "../usage/usage-aggregator.js";
import { type InvalidationBus, LocalInvalidationBus, PgInvalidationBus } from "./invalidation.js";
import type { KeyCacheOptions } from "./key-cache.js";
import { VerifyService } from "./verify-service.js";

export { VerifyService } from "./verify-service.js";
export type { VerifyInput, VerifyResult } from "./verify-service.js";

export interface VerificationOptions {
  cache?: Partial<KeyCacheOptions>;
  /** Usage flush period (ms). */
  usageFlushMs?: number;
}

/**
 * Wires the verification path from deps: the invalidation bus the database calls for
 * (PostgreSQL NOTIFY, or in-process for SQLite), the rate limiter (Redis when configured),
 * the usage aggregator and the token service. Call `start()` before serving, `close()` before
 * the database closes.
 */
export function buildVerification(deps: Deps, opts: VerificationOptions = {}): VerifyService {
  const bus: InvalidationBus =
    deps.db.dialect === "postgres" && deps.db.pgPool
      ? new PgInvalidationBus(deps.keyEvents, deps.db.pgPool, deps.db.schema ?? "", deps.logger)
      : new LocalInvalidationBus(deps.keyEvents);
  const limiter = createRateLimiter({ redisUrl: deps.config.redisUrl, logger: deps.logger });
  // PostgreSQL is how nodes share a cluster: without Redis each counts alone, and a key's limit
  // is admitted once per node. Fine for one node; said at start for the others.
  if (deps.db.dialect === "postgres" && !deps.config.redisUrl)
    deps.logger.warn(
      "rate limits are counted on this node only (KEYWARD_REDIS_URL is unset): with several nodes, each admits a key's whole limit",
    );
  const usage = new UsageAggregator(deps.db, deps.logger, {
    flushIntervalMs: opts.usageFlushMs,
    retentionDays: deps.config.usageRetentionDays,
    now: deps.now,
  });
  const cache = { maxEntries: deps.config.cacheKeys, ...opts.cache };
  return new VerifyService(deps, bus, limiter, usage, new TokenService(deps), cache);
}
