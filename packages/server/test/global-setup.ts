import { Redis } from "ioredis";
import pg from "pg";
import type { TestProject } from "vitest/node";

export const PG_URL = process.env.KEYWARD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const REDIS_URL = process.env.KEYWARD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** Same rule for Redis: locally a missing server skips the Redis tests loudly, in CI it fails. */
async function redisAvailable(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch (err) {
    if (process.env.CI === "true") {
      throw new Error(`CI=true but Redis at ${REDIS_URL} is unreachable: ${(err as Error).message}`);
    }
    console.warn(
      `\n!!! Redis at ${REDIS_URL} is unreachable: the Redis rate-limit tests are SKIPPED.\n!!! Start Redis or set KEYWARD_TEST_REDIS_URL; CI runs them.\n`,
    );
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * Checks once whether PostgreSQL answers. Locally a missing server skips the PostgreSQL
 * half loudly; in CI (CI=true) it is an error, so CI never passes by skipping.
 */
export default async function setup(project: TestProject) {
  let available = false;
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    available = true;
  } catch (err) {
    if (process.env.CI === "true") {
      throw new Error(`CI=true but PostgreSQL at ${PG_URL} is unreachable: ${(err as Error).message}`);
    }
    console.warn(
      `\n!!! PostgreSQL at ${PG_URL} is unreachable: the PostgreSQL half of the API suite is SKIPPED.\n!!! Start PostgreSQL or set KEYWARD_TEST_DATABASE_URL; CI runs it.\n`,
    );
  } finally {
    await client.end().catch(() => {});
  }
  project.provide("pgAvailable", available);
  project.provide("pgUrl", PG_URL);
  project.provide("redisAvailable", await redisAvailable());
  project.provide("redisUrl", REDIS_URL);
}

declare module "vitest" {
  export interface ProvidedContext {
    pgAvailable: boolean;
    pgUrl: string;
    redisAvailable: boolean;
    redisUrl: string;
  }
}
