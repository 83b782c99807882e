import { type Kysely, sql } from "kysely";
import pino from "pino";
import { afterEach, describe, expect, inject, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { DAY, HOUR, hourOf } from "../../src/services/usage/hours.js";
import { UsageAggregator } from "../../src/services/usage/usage-aggregator.js";
import { UsageRetention, retainedFrom } from "../../src/services/usage/usage-retention.js";
import { PRUNE_LOCK } from "../../src/services/usage/usage-writer.js";
import * as hourBrin from "../../src/store/migrations/0004-key-usage-hour-brin.js";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey } from "./key-helpers.js";
import { scrape } from "./metrics-helpers.js";

const iso = (ms: number) => new Date(ms).toISOString();

/** A key with a count in each of the given hours (epoch ms), written as a flush would. */
async function keyWithHours(h: Harness, org: { token: string; orgId: string }, name: string, hours: number[]) {
  const k = await mkKey(h, org.token, org.orgId, { name });
  await h.kw.db.kysely
    .insertInto("key_usage")
    .values(hours.map((hour, i) => ({ key_id: k.id, hour: iso(hour), count: i + 1 })))
    .execute();
  return k;
}

/** The hours a key has counts stored for, in order. */
const hoursOf = async (h: Harness, keyId: string) =>
  (await h.kw.db.kysely.selectFrom("key_usage").select("hour").where("key_id", "=", keyId).execute())
    .map((r) => r.hour)
    .sort();

describeEachDialect("usage retention", (dialect) => {
  let h: Harness;
  afterEach(async () => h?.close());

  it("deletes the hours past KEYWARD_USAGE_RETENTION_DAYS for every key and keeps the rest, the hour at the horizon included", async () => {
    h = await Harness.init(dialect, { KEYWARD_USAGE_RETENTION_DAYS: "30" });
    const org = await h.newOrgWithOwner("retention");
    const { usage } = h.kw.services.verify;
    usage.stop();
    // The prune reads the clock itself: not within seconds of an hour's end, where its horizon
    // could be an hour later than this test's.
    if (HOUR - (Date.now() % HOUR) < 10_000) await new Promise((r) => setTimeout(r, HOUR - (Date.now() % HOUR) + 10));
    const now = Date.now();
    const horizon = hourOf(now - 30 * DAY); // the hour that holds the moment 30 days ago
    const old = [horizon - 40 * DAY, horizon - HOUR]; // wholly older than 30 days
    const kept = [horizon, horizon + HOUR, hourOf(now - DAY), hourOf(now)];
    const a = await keyWithHours(h, org, "a", [...old, ...kept]);
    const b = await keyWithHours(h, org, "b", [horizon - 2 * HOUR, hourOf(now)]);

    expect(await usage.retention.run()).toBe(3);
    expect(await hoursOf(h, a.id)).toEqual(kept.map(iso));
    expect(await hoursOf(h, b.id)).toEqual([iso(hourOf(now))]);
    // The usage read of the retained range shows what is kept, with its counts.
    const from = iso(now - 40 * DAY);
    const res = await h.req("GET", `/v1/api-keys/${a.id}/usage?from=${from}`, { token: org.token });
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual(kept.map((hour, i) => ({ hour: iso(hour), count: old.length + i + 1 })));
    expect(await usage.retention.run()).toBe(0); // nothing left to delete
  });

  it("deletes in batches, each its own transaction", async () => {
    h = await Harness.init(dialect);
    const org = await h.newOrgWithOwner("batches");
    const now = Date.now();
    const old = Array.from({ length: 7 }, (_, i) => hourOf(now - 500 * DAY) - i * HOUR);
    const k = await keyWithHours(h, org, "old", [...old, hourOf(now)]);
    // Transactions of 2 rows: 7 old rows take 4 batches.
    const usage = new UsageAggregator(h.kw.db, pino({ level: "silent" }), { transactionRows: 2, retentionDays: 400 });
    expect(await usage.retention.run()).toBe(7);
    expect(await hoursOf(h, k.id)).toEqual([iso(hourOf(now))]);
    expect(usage.stats.writes).toBe(4);
    await usage.close();
  });

  it("writes a flush handed over while a long prune runs without waiting for the prune (SQLite) or alongside it", async () => {
    h = await Harness.init(dialect);
    const org = await h.newOrgWithOwner("long");
    const now = Date.now();
    // 2,000 old hours in transactions of 2: a thousand batches on the SQLite worker.
    const old = await keyWithHours(
      h,
      org,
      "old",
      Array.from({ length: 2000 }, (_, i) => hourOf(now - 500 * DAY) - i * HOUR),
    );
    const used = await mkKey(h, org.token, org.orgId, { name: "used" });
    const usage = new UsageAggregator(h.kw.db, pino({ level: "silent" }), { transactionRows: 2, retentionDays: 400 });
    const done: string[] = [];
    const pruning = usage.retention.run().then((n) => done.push(`prune ${n}`));
    usage.record(used.id, null, now);
    const flushing = usage.flush().then(() => done.push("flush"));
    await Promise.all([pruning, flushing]);
    if (dialect === "sqlite") expect(done).toEqual(["flush", "prune 2000"]);
    else expect(done.sort()).toEqual(["flush", "prune 2000"]);
    expect(await hoursOf(h, old.id)).toEqual([]);
    expect(await hoursOf(h, used.id)).toEqual([iso(hourOf(now))]);
    await usage.close();
  });

  it("shows in /metrics the usage flushes by result and the rows and failures of the retention", async () => {
    h = await Harness.init(dialect, { KEYWARD_USAGE_RETENTION_DAYS: "1" });
    const org = await h.newOrgWithOwner("metrics");
    const { usage } = h.kw.services.verify;
    usage.stop();
    const now = Date.now();
    const k = await keyWithHours(h, org, "old", [hourOf(now - 3 * DAY), hourOf(now - 2 * DAY)]);
    const read = async () => {
      const value = await scrape(h);
      return {
        ok: value('keyward_usage_flushes_total{result="ok"}'),
        failed: value('keyward_usage_flushes_total{result="failed"}'),
        deleted: value("keyward_usage_retention_deleted_rows_total"),
        pruneFailures: value("keyward_usage_retention_failures_total"),
      };
    };
    expect(await read()).toEqual({ ok: 0, failed: 0, deleted: 0, pruneFailures: 0 });
    usage.record(k.id, null, now);
    await sql`alter table key_usage rename to key_usage_away`.execute(h.kw.db.kysely);
    await usage.flush(); // fails: counts kept
    expect(await usage.retention.run()).toBe(0); // fails
    await sql`alter table key_usage_away rename to key_usage`.execute(h.kw.db.kysely);
    await usage.flush();
    expect(await usage.retention.run()).toBe(2);
    expect(await read()).toEqual({ ok: 1, failed: 1, deleted: 2, pruneFailures: 1 });
  });

  it("keeps every count when KEYWARD_USAGE_RETENTION_DAYS is 0", async () => {
    h = await Harness.init(dialect, { KEYWARD_USAGE_RETENTION_DAYS: "0" });
    const org = await h.newOrgWithOwner("forever");
    const ancient = hourOf(Date.now() - 3000 * DAY);
    const k = await keyWithHours(h, org, "old", [ancient]);
    expect(await h.kw.services.verify.usage.retention.run()).toBe(0);
    expect(await hoursOf(h, k.id)).toEqual([iso(ancient)]);
  });

  it("logs a prune that fails, loses nothing, and deletes on the next one", async () => {
    h = await Harness.init(dialect, { KEYWARD_USAGE_RETENTION_DAYS: "1" });
    const org = await h.newOrgWithOwner("fails");
    const old = hourOf(Date.now() - 3 * DAY);
    const k = await keyWithHours(h, org, "old", [old]);
    const logged: { level: number; msg: string }[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => logged.push(JSON.parse(line)) });
    const usage = new UsageAggregator(h.kw.db, logger, { retentionDays: 1 });
    await sql`alter table key_usage rename to key_usage_away`.execute(h.kw.db.kysely);
    expect(await usage.retention.run()).toBe(0);
    await sql`alter table key_usage_away rename to key_usage`.execute(h.kw.db.kysely);
    expect(logged).toEqual([expect.objectContaining({ level: 50, msg: expect.stringContaining("usage retention") })]);
    expect(await hoursOf(h, k.id)).toEqual([iso(old)]);
    expect(await usage.retention.run()).toBe(1);
    expect(logged[1]).toMatchObject({
      level: 30,
      deleted: 1,
      retentionDays: 1,
      before: iso(retainedFrom(Date.now(), 1)),
    });
    expect(await hoursOf(h, k.id)).toEqual([]);
    await usage.close();
  });

  it("finds the old hours through an index (a BRIN index on PostgreSQL, the primary key on SQLite)", async () => {
    h = await Harness.init(dialect);
    const db = h.kw.db.kysely;
    const oldest = Date.parse("2026-01-01T00:00:00.000Z");
    const before = iso(oldest + HOUR); // the oldest hour, as the hourly prune finds it
    if (dialect === "sqlite") {
      const plan = await sql<{ detail: string }>`explain query plan
        delete from key_usage where (hour, key_id) in (select hour, key_id from key_usage where hour < ${before} limit 10)`.execute(
        db,
      );
      expect(plan.rows.map((r) => r.detail)).toContain("SEARCH key_usage USING PRIMARY KEY (hour<?)");
      return;
    }
    // 100 keys × 2,000 hours, inserted hour by hour as flushes do (the foreign key is off for
    // the copy: there are no such keys), so the planner weighs the index against reading the table.
    await db.transaction().execute(async (trx) => {
      await sql`set local session_replication_role = replica`.execute(trx);
      await sql`insert into key_usage (key_id, hour, count)
        select 'key_' || k, to_char(timestamp '2026-01-01' + h * interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 1
        from generate_series(0, 1999) h, generate_series(0, 99) k order by h`.execute(trx);
    });
    await sql`analyze key_usage`.execute(db);
    const plan = async () =>
      (
        await sql<{ "QUERY PLAN": string }>`explain delete from key_usage where ctid = any(array(
          select ctid from key_usage where hour < ${before} limit 5000))`.execute(db)
      ).rows
        .map((r) => r["QUERY PLAN"])
        .join("\n");
    expect(await plan()).toContain("Bitmap Index Scan on key_usage_hour");
    // Without it (0004 down) the same delete reads the whole table; up again brings it back.
    await hourBrin.down(db as unknown as Kysely<unknown>);
    expect(await plan()).toMatch(/Seq Scan on key_usage/);
    await hourBrin.up(db as unknown as Kysely<unknown>);
    expect(await plan()).toContain("Bitmap Index Scan on key_usage_hour");
    // A prune through it deletes exactly the hours before its horizon.
    const usage = new UsageAggregator(h.kw.db, pino({ level: "silent" }), { retentionDays: 300 });
    const horizon = iso(retainedFrom(Date.now(), 300));
    const count = async (op: ">=" | "<") =>
      Number(
        (
          await db
            .selectFrom("key_usage")
            .select((e) => e.fn.countAll().as("n"))
            .where("hour", op, horizon)
            .executeTakeFirstOrThrow()
        ).n,
      );
    const [older, newer] = [await count("<"), await count(">=")];
    expect(older).toBeGreaterThan(0);
    expect(await usage.retention.run()).toBe(older);
    expect([await count("<"), await count(">=")]).toEqual([0, newer]);
    await usage.close();
  });
});

/** PostgreSQL only: the nodes of a cluster share one database. */
(inject("pgAvailable") ? describe : describe.skip)("usage retention across PostgreSQL nodes", () => {
  let h: Harness;
  afterEach(async () => h?.close());
  it("leaves the prune to the node that holds the lock", async () => {
    h = await Harness.init("postgres", { KEYWARD_USAGE_RETENTION_DAYS: "1" });
    const org = await h.newOrgWithOwner("lock");
    const old = hourOf(Date.now() - 3 * DAY);
    const k = await keyWithHours(h, org, "old", [old]);
    const pool = h.kw.db.pgPool;
    if (!pool) throw new Error("no pool");
    // Another node pruning this schema holds the lock.
    const other = await pool.connect();
    try {
      await other.query("begin");
      await other.query("select pg_advisory_xact_lock($1, hashtext(current_schema()))", [PRUNE_LOCK]);
      expect(await h.kw.services.verify.usage.retention.run()).toBe(0);
      expect(await hoursOf(h, k.id)).toEqual([iso(old)]);
      await other.query("commit");
    } finally {
      other.release();
    }
    expect(await h.kw.services.verify.usage.retention.run()).toBe(1);
    expect(await hoursOf(h, k.id)).toEqual([]);
  });
});

describe("usage retention schedule", () => {
  const silent = pino({ level: "silent" });

  it("prunes a while after start, then on every period, up to the hour `days` before now", async () => {
    const calls: number[] = [];
    const now = new Date("2026-11-24T15:42:10.000Z");
    const r = new UsageRetention({
      days: 30,
      prune: async (before) => {
        calls.push(before);
        return 0;
      },
      now: () => now,
      logger: silent,
      firstAfterMs: 20,
      everyMs: 30,
    }).start();
    expect(calls).toEqual([]); // not at once: a starting node serves first
    await new Promise((resolve) => setTimeout(resolve, 140));
    await r.stop();
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(new Set(calls)).toEqual(new Set([Date.parse("2026-10-25T15:00:00.000Z")]));
    const after = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(calls.length).toBe(after); // stopped
  });

  it("runs one prune at a time, and stop waits for the one under way", async () => {
    let release = () => {};
    let started = 0;
    const r = new UsageRetention({
      days: 1,
      prune: () => {
        started++;
        return new Promise<number>((resolve) => {
          release = () => resolve(5);
        });
      },
      now: () => new Date(),
      logger: silent,
    });
    const first = r.run();
    const second = r.run();
    expect(started).toBe(1);
    let stopped = false;
    const stopping = r.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect([await first, await second]).toEqual([5, 5]);
  });

  it("never schedules anything when days is 0", async () => {
    let called = false;
    const r = new UsageRetention({
      days: 0,
      prune: async () => {
        called = true;
        return 0;
      },
      now: () => new Date(),
      logger: silent,
      firstAfterMs: 1,
      everyMs: 1,
    }).start();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await r.run()).toBe(0);
    expect(called).toBe(false);
  });

  it("reads KEYWARD_USAGE_RETENTION_DAYS: 400 by default, 0 to keep all, a clear error otherwise", () => {
    expect(loadConfig({}).usageRetentionDays).toBe(400);
    expect(loadConfig({ KEYWARD_USAGE_RETENTION_DAYS: "0" }).usageRetentionDays).toBe(0);
    for (const bad of ["-1", "1.5", "a year", "36501"]) {
      expect(() => loadConfig({ KEYWARD_USAGE_RETENTION_DAYS: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ KEYWARD_USAGE_RETENTION_DAYS: bad })).toThrow(/KEYWARD_USAGE_RETENTION_DAYS/);
    }
  });
});
