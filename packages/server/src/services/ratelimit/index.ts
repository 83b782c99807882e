import { Redis } from "ioredis";
import type { Logger } from "pino";
import { MemoryRateLimiter, type RateLimiter, RedisRateLimiter } from "./rate-limiter.js";

export * from "./rate-limiter.js";

/**
 * How long a verification waits for Redis before its rate limit is decided by this node's
 * memory (insurance) limiter instead. Verification waits on this call, so it is a budget on
 * the verify path. A healthy Redis answers a nearby node in about a millisecond, but the
 * timer can also fire because this process's own event loop was held up (a long collection,
 * a busy machine): the answer is then waiting, unread, and a false timeout would count the
 * request in memory, beside the shared counters, and admit more than the limit across
 * nodes. A second is far above any such stall seen here (bench/RESULTS.md: under 100 ms),
 * and still inside callers' usual timeouts. Without a timeout, a Redis that kept the
 * connection open but stopped answering (a stuck proxy, a half-open connection) left
 * verification waiting forever, the fallback unused.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 1000;

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
    // Every command (the ready check too) settles in this time; one that does not is
    // rejected, and the insurance limiter answers.
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    // A connection that returns nothing that long while commands wait is stalled: it is
    // destroyed. Until ioredis has reconnected (its usual backoff, 50 ms growing to 2 s, with
    // the same ready check), the limiter is not "ready" and verifications go straight to the
    // insurance limiter instead of each waiting out the timeout; commands stop piling up in
    // the dead connection; and once Redis answers again, "ready" brings the shared counters
    // back, exactly as after a refused connection.
    socketTimeout: REDIS_COMMAND_TIMEOUT_MS,
    // A timed-out increment was already counted by the insurance limiter: resending it after
    // the reconnect would count it in Redis too. (One that reached Redis before the stall is
    // counted there anyway: at worst the stall's first in-flight verifications count twice,
    // never less, and the Lua script sets each counter's TTL atomically with its increment.)
    autoResendUnfulfilledCommands: false,
  });
  let warned = false;
  redis.on("error", (err) => {
    if (warned) return;
    warned = true;
    opts.logger.warn({ err: err.message }, "redis unavailable: rate limits fall back to per-node memory");
  });
  redis.on("ready", () => {
    if (warned) opts.logger.info("redis available again: rate limits are shared again");
    warned = false;
  });
  return new RedisRateLimiter(redis, opts.prefix);
}
