import { Redis } from "ioredis";
import type { Logger } from "pino";
import { MemoryRateLimiter, type RateLimiter, RedisRateLimiter } from "./rate-limiter.js";

export * from "./rate-limiter.js";

/**
 * The rate limiter the configuration asks for: Redis when `redisUrl` is set, memory
 * otherwise. Call `start()` before serving: it waits (up to `connectTimeoutMs`) for Redis; a
 * node that cannot reach Redis limits in memory until it can.
 */
export function createRateLimiter(opts: {
  redisUrl?: string;
  prefix?: string;
  logger: Logger;
  connectTimeoutMs?: number;
}): RateLimiter {
  if (!opts.redisUrl) return new MemoryRateLimiter(opts.prefix);
  const redis = new Redis(opts.redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
  });
  let warned = false;
  redis.on("error", (err) => {
    if (warned) return;
    warned = true;
    opts.logger.warn({ err: err.message }, "redis unavailable: rate limits fall back to per-node memory");
  });
  redis.on("ready", () => {
    warned = false;
  });
  return new RedisRateLimiter(redis, opts.prefix);
}
