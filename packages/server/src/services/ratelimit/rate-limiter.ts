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

/** Shared logic: one rate-limiter-flexible instance per distinct rule, made on first use. */
abstract class FlexibleLimiter implements RateLimiter {
  abstract readonly kind: "memory" | "redis";
  private limiters = new Map<string, RateLimiterAbstract>();

  protected abstract make(rule: RateLimitRule, keyPrefix: string): RateLimiterAbstract;

  constructor(protected readonly prefix: string) {}

  private limiterFor(rule: RateLimitRule): RateLimiterAbstract {
    // The rule is part of the counter's name: changing a key's limit starts a fresh window.
    const id = `${rule.limit}:${rule.windowSeconds}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = this.make(rule, `${this.prefix}:${id}`);
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  async consume(keyId: string, rule: RateLimitRule, nowMs: number): Promise<RateLimitResult> {
    const limiter = this.limiterFor(rule);
    try {
      const res = await limiter.consume(keyId, 1);
      return { allowed: true, limit: rule.limit, remaining: res.remainingPoints, resetAt: nowMs + res.msBeforeNext };
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      return { allowed: false, limit: rule.limit, remaining: 0, resetAt: nowMs + err.msBeforeNext };
    }
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {}
}

/** Per-process counters: right for one node. */
export class MemoryRateLimiter extends FlexibleLimiter {
  readonly kind = "memory" as const;

  constructor(prefix = "kw:rl") {
    super(prefix);
  }

  protected make(rule: RateLimitRule, keyPrefix: string): RateLimiterAbstract {
    return new RateLimiterMemory({ points: rule.limit, duration: rule.windowSeconds, keyPrefix });
  }
}

/**
 * Counters in Redis, shared by every node. While Redis is unreachable each node falls back
 * to its own memory counters (an insurance limiter) rather than failing verification.
 */
export class RedisRateLimiter extends FlexibleLimiter {
  readonly kind = "redis" as const;

  constructor(
    private readonly redis: Redis,
    prefix = "kw:rl",
    private readonly ownsClient = true,
  ) {
    super(prefix);
  }

  protected make(rule: RateLimitRule, keyPrefix: string): RateLimiterAbstract {
    return new RateLimiterRedis({
      storeClient: this.redis,
      points: rule.limit,
      duration: rule.windowSeconds,
      keyPrefix,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ points: rule.limit, duration: rule.windowSeconds, keyPrefix }),
    });
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
