import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";

/** A key's rate limit: at most `limit` verifications per `windowSeconds` (fixed window). */
export interface RateLimitRule {
  limit: number;
  windowSeconds: number;
}

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** When the current window ends (epoch ms): the earliest a rejected caller may retry. */
  resetAt: number;
}

/**
 * Counts verifications per key. One interface, two backings: process memory for a single
 * node, Redis (atomic, every counter with a TTL) when several nodes share the limit.
 */
export interface RateLimiter {
  readonly kind: "memory" | "redis";
  consume(keyId: string, rule: RateLimitRule, nowMs: number): Promise<RateLimitResult>;
  /** Connects to the backing store, when there is one. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * rate-limiter-flexible compares counts with a per-instance `points`; ours compares them with
 * the rule's limit itself, so each instance is given a limit no count reaches.
 */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** Options for one rate-limiter-flexible instance serving every rule (see {@link FlexibleLimiter}). */
function anyRule(keyPrefix: string) {
  // `duration` is a placeholder: every call passes its rule's window as `customDuration`.
  return { points: NO_LIMIT, duration: 1, keyPrefix };
}

/**
 * Shared logic over ONE rate-limiter-flexible instance for all rules: one counter per key
 * (`<prefix>:<keyId>`), its window passed per call (`customDuration`: it sets the length of a
 * window as the window opens), and the count compared with the key's current limit here. So a
 * changed limit applies at once to the uses the running window already counted, and a changed
 * window length from the next window on: changing a key's rule never hands out a fresh window
 * (a key changing its own window length again and again would otherwise never be limited).
 *
 * Not one instance per distinct rule, as before: key creators choose the rules, so that map
 * grew without bound. Bounding it by evicting instances (LRU) would not be correct either: an
 * evicted memory instance takes its live counters with it, so churning rules could reset other
 * keys' windows. With one instance, memory holds only live counters, each dropped when its
 * window ends (memory) or expiring with its TTL (Redis).
 */
abstract class FlexibleLimiter implements RateLimiter {
  abstract readonly kind: "memory" | "redis";

  constructor(private readonly limiter: RateLimiterAbstract) {}

  async consume(keyId: string, rule: RateLimitRule, nowMs: number): Promise<RateLimitResult> {
    const counter = keyId;
    // With NO_LIMIT nothing is rejected; a RateLimiterRes thrown anyway still carries the count.
    const res = await this.limiter.consume(counter, 1, { customDuration: rule.windowSeconds }).catch((err: unknown) => {
      if (err instanceof RateLimiterRes) return err;
      throw err;
    });
    return {
      allowed: res.consumedPoints <= rule.limit,
      limit: rule.limit,
      remaining: Math.max(rule.limit - res.consumedPoints, 0),
      resetAt: nowMs + res.msBeforeNext,
    };
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {}
}

/** Per-process counters: right for one node. */
export class MemoryRateLimiter extends FlexibleLimiter {
  readonly kind = "memory" as const;

  constructor(prefix = "kw:rl") {
    super(new RateLimiterMemory(anyRule(prefix)));
  }
}

/**
 * Counters in Redis, shared by every node. While Redis is unreachable each node falls back
 * to its own memory counters (an insurance limiter) rather than failing verification.
 * A Redis that stalls (connection open, no answers) falls back only if the client times its
 * commands out: `createRateLimiter` (index.ts) configures it so; a client given here must too.
 */
export class RedisRateLimiter extends FlexibleLimiter {
  readonly kind = "redis" as const;

  constructor(
    private readonly redis: Redis,
    prefix = "kw:rl",
    private readonly ownsClient = true,
  ) {
    super(
      new RateLimiterRedis({
        ...anyRule(prefix),
        storeClient: redis,
        // While the connection is not ready, go straight to the insurance limiter.
        rejectIfRedisNotReady: true,
        // Called with the same arguments (so the same counter name and window) when Redis fails.
        insuranceLimiter: new RateLimiterMemory(anyRule(prefix)),
      }),
    );
  }

  /** Waits (a bounded time) for the connection; until it is ready, the memory insurance limits. */
  override async start(timeoutMs = 3000): Promise<void> {
    if (this.redis.status === "ready") return;
    if (this.redis.status === "wait") {
      await this.redis.connect().catch(() => {});
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off("ready", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.redis.once("ready", done);
    });
  }

  override async close(): Promise<void> {
    if (this.ownsClient) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
