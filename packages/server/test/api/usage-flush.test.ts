import path from "node:path";
import SQLite from "better-sqlite3";
import { type Kysely, sql } from "kysely";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import pino from "pino";
import { sha256 } from "../../src/services/auth-service.js";
import {
  USAGE_WRITE_EVERY_MS,
  USAGE_WRITE_SPREAD_MS,
  UsageAggregator,
} from "../../src/services/usage/usage-aggregator.js";
import * as clustered from "../../src/store/migrations/0002-key-usage-clustered.js";
import * as byHour from "../../src/store/migrations/0003-key-usage-by-hour.js";
import { openDb } from "../../src/store/db.js";
import { Harness, describeEachDialect } from "../harness.js";
import { pgProxy } from "../pg-proxy.js";
import { mkKey } from "./key-helpers.js";
import { verifierKey, verify } from "./verify-helpers.js";

const HOUR = 3_600_000;
/** When a key's usage, written a moment ago, is written again at the latest. */
const AGAIN = USAGE_WRITE_EVERY_MS + USAGE_WRITE_SPREAD_MS;

describeEachDialect("usage flush", (dialect) => {
  let h: Harness;
  let keyId: string;
  let secret: string;
  let org: { token: string; orgId: string };

  beforeEach(async () => {
    h = await Harness.init(dialect);
    org = await h.newOrgWithOwner("flush");
    const made = await mkKey(h, org.token, org.orgId, { name: "ci" });
    keyId = made.id;
    secret = made.secret;
    h.kw.services.verify.usage.stop();
  });
  afterEach(async () => h.close());

  const stored = async () =>
    (await h.kw.db.kysely.selectFrom("key_usage").select(["hour", "count"]).where("key_id", "=", keyId).execute())
      .map((r) => ({ hour: r.hour, count: Number(r.count) }))
      .sort((a, b) => a.hour.localeCompare(b.hour));

  const lastUse = () =>
    h.kw.db.kysely
      .selectFrom("api_keys")
      .select(["last_used_at", "last_used_ip"])
      .where("id", "=", keyId)
      .executeTakeFirstOrThrow();

  /** The stored request counts of some keys (every hour), by key; a key with none is absent. */
  const storedCounts = async (ids: string[]) => {
    const rows = await h.kw.db.kysely
      .selectFrom("key_usage")
      .select(["key_id", "count"])
      .where("key_id", "in", ids)
      .execute();
    const by = new Map<string, number>();
    for (const r of rows) by.set(r.key_id, (by.get(r.key_id) ?? 0) + Number(r.count));
    return by;
  };

  /** Makes the database refuse usage rows (of one key, or of all): a trigger. Returns its removal. */
  const refuseUsage = async (of?: string) => {
    const db = h.kw.db.kysely;
    if (dialect === "sqlite") {
      const when = of === undefined ? sql`` : sql`when new.key_id = ${sql.lit(of)}`;
      await sql`create trigger refuse_usage before insert on key_usage ${when} begin select raise(abort, 'refused'); end`.execute(
        db,
      );
      return () => sql`drop trigger refuse_usage`.execute(db);
    }
    const test = of === undefined ? sql`true` : sql`new.key_id = ${sql.lit(of)}`;
    await sql`create function refuse_usage() returns trigger language plpgsql as $$
      begin if ${test} then raise exception 'refused'; end if; return new; end $$`.execute(db);
    await sql`create trigger refuse_usage before insert on key_usage for each row execute function refuse_usage()`.execute(
      db,
    );
    return async () => {
      await sql`drop trigger refuse_usage on key_usage`.execute(db);
      await sql`drop function refuse_usage()`.execute(db);
    };
  };

  it("keeps uses on either side of an hour boundary in their own buckets", async () => {
    const { usage } = h.kw.services.verify;
    const hour = Math.floor(Date.now() / HOUR) * HOUR;
    usage.record(keyId, "203.0.113.1", hour - 1);
    usage.record(keyId, "203.0.113.1", hour - 1);
    usage.record(keyId, "203.0.113.2", hour);
    usage.record(keyId, "203.0.113.2", hour + 5);
    usage.record(keyId, "203.0.113.2", hour + 6);
    expect(usage.unflushed(keyId).buckets).toHaveLength(2);
    await usage.flush();
    expect(await stored()).toEqual([
      { hour: new Date(hour - HOUR).toISOString(), count: 2 },
      { hour: new Date(hour).toISOString(), count: 3 },
    ]);
    expect(await lastUse()).toEqual({ last_used_at: new Date(hour + 6).toISOString(), last_used_ip: "203.0.113.2" });
  });

  it("stores an hour's count past 2^31, and the other keys of the same flush (PostgreSQL's integer is 32 bits)", async () => {
    const quiet = await mkKey(h, org.token, org.orgId, { name: "quiet" });
    const { usage } = h.kw.services.verify;
    const now = Date.now();
    const hour = new Date(now - (now % HOUR)).toISOString();
    // What earlier flushes of this hour stored for a very hot key (other nodes' included).
    await h.kw.db.kysely.insertInto("key_usage").values({ key_id: keyId, hour, count: 2_147_483_000 }).execute();
    for (let i = 0; i < 1000; i++) usage.record(keyId, null, now);
    usage.record(quiet.id, "203.0.113.1", now);
    await usage.flush(true);
    expect(usage.stats.failedFlushes).toBe(0);
    const rows = await h.kw.db.kysely.selectFrom("key_usage").select(["key_id", "count"]).execute();
    expect(Number(rows.find((r) => r.key_id === quiet.id)?.count)).toBe(1);
    expect(Number(rows.find((r) => r.key_id === keyId)?.count)).toBe(2_147_484_000);
    const read = await h.req("GET", `/v1/api-keys/${keyId}/usage`, { token: org.token });
    expect(read.body.total).toBe(2_147_484_000);
  });

  it("keeps a failed flush's counts for the next one, and writes them once", async () => {
    const { usage } = h.kw.services.verify;
    const now = Date.now();
    for (let i = 0; i < 3; i++) usage.record(keyId, null, now);
    await sql`alter table key_usage rename to key_usage_away`.execute(h.kw.db.kysely);
    await usage.flush(); // fails: logged, counts kept
    expect(usage.unflushed(keyId).buckets.map((b) => b.count)).toEqual([3]);
    await sql`alter table key_usage_away rename to key_usage`.execute(h.kw.db.kysely);
    usage.record(keyId, null, now);
    await usage.flush();
    expect((await stored()).map((r) => r.count)).toEqual([4]);
    expect(usage.unflushed(keyId).buckets).toEqual([]);
  });

  it("keeps what a flush that could not start had gathered, and writes it next time with no new use", async () => {
    const { usage } = h.kw.services.verify;
    const now = Date.now();
    for (let i = 0; i < 3; i++) usage.record(keyId, "203.0.113.1", now);
    const writer = (usage as unknown as { writer: { begin: () => unknown } }).writer;
    const begin = writer.begin;
    writer.begin = () => {
      writer.begin = begin;
      throw new Error("no writer");
    };
    await usage.flush(); // fails before anything is handed over: logged, everything kept
    expect(await stored()).toEqual([]);
    await usage.flush();
    expect((await stored()).map((r) => r.count)).toEqual([3]);
    expect(await lastUse()).toEqual({ last_used_at: new Date(now).toISOString(), last_used_ip: "203.0.113.1" });
  });

  it("writes held-back usage at shutdown though the key is not used again", async () => {
    const { usage } = h.kw.services.verify;
    const at = Date.now();
    usage.record(keyId, "203.0.113.1", at);
    await usage.flush();
    usage.record(keyId, "203.0.113.2", at + 1000);
    await usage.flush(); // held back: the key's usage was written a moment ago
    await usage.flush(); // nothing new: the held-back usage waits on
    expect(await lastUse()).toEqual({ last_used_at: new Date(at).toISOString(), last_used_ip: "203.0.113.1" });
    expect((await stored()).map((r) => r.count)).toEqual([1]);
    await usage.flush(true); // as on shutdown
    expect(await lastUse()).toEqual({ last_used_at: new Date(at + 1000).toISOString(), last_used_ip: "203.0.113.2" });
    expect((await stored()).map((r) => r.count)).toEqual([2]);
  });

  it("keeps uses recorded while a flush is being written for the next one, and writes each once", async () => {
    const { usage } = h.kw.services.verify;
    const now = Date.now();
    for (let i = 0; i < 3; i++) usage.record(keyId, "203.0.113.1", now);
    const first = usage.flush(); // has taken its chunk; now waits for the writer
    usage.record(keyId, "203.0.113.9", now + 1);
    usage.record(keyId, "203.0.113.9", now + 2);
    await first;
    expect((await stored()).map((r) => r.count)).toEqual([3]);
    expect(usage.unflushed(keyId).buckets.map((b) => b.count)).toEqual([2]);
    await usage.flush(true);
    expect((await stored()).map((r) => r.count)).toEqual([5]);
    expect(usage.unflushed(keyId)).toEqual({ lastUsedAt: null, lastUsedIp: null, buckets: [] });
    expect(await lastUse()).toEqual({ last_used_at: new Date(now + 2).toISOString(), last_used_ip: "203.0.113.9" });
  });

  /**
   * Holds the flush's write of the key: PostgreSQL locks its api_keys row from another
   * connection, SQLite takes the write lock of the file on a second connection. Returns the release.
   */
  const holdWrites = async (): Promise<() => Promise<void>> => {
    if (dialect === "postgres") {
      const pool = h.kw.db.pgPool;
      if (!pool) throw new Error("no pool");
      const client = await pool.connect();
      await client.query("begin");
      await client.query("select id from api_keys where id = $1 for update", [keyId]);
      return async () => {
        await client.query("rollback");
        client.release();
      };
    }
    const db = new SQLite(path.join(h.kw.services.deps.config.dataDir, "keyward.db"));
    db.exec("begin immediate");
    return async () => {
      db.exec("rollback");
      db.close();
    };
  };

  it("counts what a flush is writing in the usage read, before, during and after it, failed or not", async () => {
    const { usage } = h.kw.services.verify;
    const verifier = await verifierKey(h);
    for (let i = 0; i < 5; i++) expect((await verify(h, verifier, { key: secret })).body.valid).toBe(true);
    const total = async () => {
      const res = await h.req("GET", `/v1/api-keys/${keyId}/usage`, { token: org.token });
      expect(res.status).toBe(200);
      return res.body.total;
    };
    expect(await total()).toBe(5);
    /** Flushes while the database's write lock is held, checking the usage read before it is let go. */
    const flushHeld = async (all: boolean, expected: number) => {
      const release = await holdWrites();
      let done = false;
      const flushed = usage.flush(all).then(() => {
        done = true;
      });
      try {
        await new Promise((r) => setTimeout(r, 150)); // handed over; the write waits for the lock
        expect(await total()).toBe(expected);
        expect(done).toBe(false);
      } finally {
        await release();
      }
      await flushed;
    };
    await flushHeld(false, 5);
    expect(usage.stats.failedFlushes).toBe(0);
    expect((await stored()).map((r) => r.count)).toEqual([5]);
    expect(await total()).toBe(5);

    // A flush that fails once the write goes on: its counts are read while held, and after.
    for (let i = 0; i < 2; i++) expect((await verify(h, verifier, { key: secret })).body.valid).toBe(true);
    const accept = await refuseUsage();
    await flushHeld(true, 7);
    expect(usage.stats.failedFlushes).toBe(1);
    expect(await total()).toBe(7);
    await accept();
    await usage.flush(true);
    expect((await stored()).map((r) => r.count)).toEqual([7]);
    expect(await total()).toBe(7);
    expect(usage.unflushed(keyId).buckets).toEqual([]);
  });

  it("keeps exactly what a flush failing part-way did not store, and writes every count once", async () => {
    // Two keys per transaction: six keys take three, and one key's insert fails. The writers
    // take keys in different orders (SQLite by id, PostgreSQL as recorded): the failing key is
    // among the first two in neither, so a transaction is stored before its own fails.
    const usage = new UsageAggregator(h.kw.db, pino({ level: "silent" }), { transactionRows: 2 });
    const ids = [keyId];
    for (let i = 0; i < 5; i++) ids.push((await mkKey(h, org.token, org.orgId, { name: `k${i}` })).id);
    const bad = ids.slice(2).sort().at(-1) as string;
    const now = Date.now();
    ids.forEach((id, i) => {
      for (let n = 0; n <= i; n++) usage.record(id, "203.0.113.1", now);
    });
    const counts = () => storedCounts(ids);
    const accept = await refuseUsage(bad);
    await usage.flush(); // fails part-way: logged, the unstored counts kept
    const partly = await counts();
    expect(partly.has(bad)).toBe(false);
    expect(partly.size).toBeGreaterThan(0);
    expect(ids.map((id) => (partly.get(id) ?? 0) + (usage.unflushed(id).buckets[0]?.count ?? 0))).toEqual(
      ids.map((_, i) => i + 1),
    );
    await accept();
    for (const id of ids) usage.record(id, "203.0.113.2", now + 1);
    await usage.flush(true);
    const all = await counts();
    expect(ids.map((id) => all.get(id))).toEqual(ids.map((_, i) => i + 2));
    expect(await lastUse()).toEqual({ last_used_at: new Date(now + 1).toISOString(), last_used_ip: "203.0.113.2" });
    await usage.close();
  });

  it("counts each use once in a read between a flush's transactions, and after its last one fails", async () => {
    // Two keys per transaction: six keys take three, and the writer waits after each one
    // commits (its test-only pause) while every key's usage is read as GET .../usage reads
    // it. Keys are used in id order, the order both writers then store them in, so the key
    // whose insert fails in the second flush is in its last transaction.
    let onPause = (resume: () => void) => resume();
    const usage = new UsageAggregator(h.kw.db, pino({ level: "silent" }), {
      transactionRows: 2,
      afterTransaction: () => new Promise<void>((resume) => onPause(resume)),
    });
    const ids = [keyId];
    for (let i = 0; i < 5; i++) ids.push((await mkKey(h, org.token, org.orgId, { name: `k${i}` })).id);
    ids.sort();
    const bad = ids[5];
    const truth = ids.map(() => 0);
    const now = Date.now();
    const useAll = () =>
      ids.forEach((id, i) => {
        for (let n = 0; n <= i; n++) usage.record(id, "203.0.113.1", now);
        truth[i] += i + 1;
      });
    const counts = () => storedCounts(ids);
    /** Each key's usage as the route reads it: the database's counts plus this node's unflushed ones. */
    const read = async () => {
      const stored = await counts();
      return ids.map((id) => usage.unflushed(id).buckets.reduce((n, b) => n + b.count, stored.get(id) ?? 0));
    };
    /**
     * Flushes everything (past the once-a-minute rule), running `atPause(n)` while the writer
     * waits after its n-th transaction; answers the pauses.
     */
    const flushPausing = async (atPause: (n: number) => Promise<void>) => {
      const checks: Promise<void>[] = [];
      onPause = (resume) => void checks.push(atPause(checks.length + 1).finally(resume));
      await usage.flush(true);
      onPause = (resume) => resume();
      await Promise.all(checks);
      return checks.length;
    };

    useAll();
    const pauses = await flushPausing(async (n) => {
      // The first n transactions are stored, the others not yet: each use counts once.
      expect([...(await counts()).keys()].sort()).toEqual(ids.slice(0, 2 * n));
      expect(await read()).toEqual(truth);
      useAll(); // for the next flush
      expect(await read()).toEqual(truth);
    });
    expect(pauses).toBe(3);
    expect(usage.stats.failedFlushes).toBe(0);
    expect(await read()).toEqual(truth);

    const accept = await refuseUsage(bad);
    // Two transactions stored, the third fails: what they stored is not put back, nor counted twice.
    const partly = await flushPausing(async () => {
      expect(await read()).toEqual(truth);
    });
    expect(partly).toBe(2);
    expect(usage.stats.failedFlushes).toBe(1);
    expect(await read()).toEqual(truth);
    await accept();
    await flushPausing(async () => {
      expect(await read()).toEqual(truth);
    });
    const all = await counts();
    expect(ids.map((id) => all.get(id))).toEqual(truth);
    expect(ids.filter((id) => usage.unflushed(id).buckets.length > 0)).toEqual([]);
    await usage.close();
  });

  if (dialect === "postgres")
    it("does not write a flush twice when the answer to its commit is lost (PostgreSQL)", async () => {
      // A node whose connections go through a proxy that cuts one after passing on its commit.
      const proxy = await pgProxy(inject("pgUrl"));
      const db = await openDb(proxy.url, h.kw.db.schema);
      const usage = new UsageAggregator(db, pino({ level: "silent" }));
      try {
        const now = Date.now();
        for (let i = 0; i < 3; i++) usage.record(keyId, "203.0.113.1", now);
        proxy.loseCommitReply();
        await usage.flush(true);
        // The commit went through; the node asked, instead of putting the counts back.
        expect(usage.stats.failedFlushes).toBe(0);
        expect(usage.unflushed(keyId).buckets).toEqual([]);
        await usage.flush(true);
        expect((await stored()).map((b) => b.count)).toEqual([3]);
        expect((await lastUse()).last_used_ip).toBe("203.0.113.1");
      } finally {
        await usage.close();
        await db.close();
        await proxy.close();
      }
    });

  it("keeps every usage row through migrations 0003 and 0002 and back (SQLite: key_usage by hour, then key id)", async () => {
    const { usage } = h.kw.services.verify;
    const hour = Math.floor(Date.now() / HOUR) * HOUR;
    for (let i = 0; i < 3; i++) usage.record(keyId, null, hour - 1);
    usage.record(keyId, null, hour);
    await usage.flush();
    const before = await stored();
    expect(before.map((r) => r.count)).toEqual([3, 1]);
    const db = h.kw.db.kysely as unknown as Kysely<unknown>;
    /** SQLite's key_usage: its primary key, whether it has rowids, and its indexes. */
    const shape = () => {
      if (!h.kw.db.sqlite) return null;
      const table = h.kw.db.sqlite.prepare("select sql from sqlite_master where name = 'key_usage'").pluck().get();
      const indexes = h.kw.db.sqlite
        .prepare("select name from sqlite_master where type = 'index' and tbl_name = 'key_usage' and sql is not null")
        .pluck()
        .all();
      return {
        primaryKey: /primary key \(([^)]*)\)/i.exec(String(table))?.[1],
        withoutRowid: /without rowid/i.test(String(table)),
        indexes,
      };
    };
    const sqlite = dialect === "sqlite";
    expect(shape()).toEqual(
      sqlite ? { primaryKey: "hour, key_id", withoutRowid: true, indexes: ["key_usage_key"] } : null,
    );
    if (h.kw.db.sqlite) {
      // One key's usage (the usage endpoint) and its deletion (the cascade) go through the index.
      const plan = (q: string) => JSON.stringify(h.kw.db.sqlite?.prepare(`explain query plan ${q}`).all(keyId));
      expect(plan("select hour, count from key_usage where key_id = ? and hour >= '2026' and hour <= '2027'")).toMatch(
        /USING INDEX key_usage_key/,
      );
      expect(plan("delete from key_usage where key_id = ?")).toMatch(/USING INDEX key_usage_key/);
    }
    await byHour.down(db);
    expect(shape()).toEqual(sqlite ? { primaryKey: "key_id, hour", withoutRowid: true, indexes: [] } : null);
    expect(await stored()).toEqual(before);
    await clustered.down(db);
    expect(shape()).toEqual(sqlite ? { primaryKey: "key_id, hour", withoutRowid: false, indexes: [] } : null);
    expect(await stored()).toEqual(before);
    await clustered.up(db);
    await byHour.up(db);
    expect(shape()).toEqual(
      sqlite ? { primaryKey: "hour, key_id", withoutRowid: true, indexes: ["key_usage_key"] } : null,
    );
    expect(await stored()).toEqual(before);
    usage.record(keyId, null, hour + 1);
    await usage.flush(true);
    expect((await stored()).map((r) => r.count)).toEqual([3, 2]);
    // A deleted key's rows go with it (the foreign key's cascade, through the index).
    await h.kw.db.kysely.deleteFrom("api_keys").where("id", "=", keyId).execute();
    expect(await stored()).toEqual([]);
  });

  it("writes a busy key's usage at most once a minute by the flush's clock, and a quiet key's at the next flush", async () => {
    let clock = Math.floor(Date.now() / HOUR) * HOUR + 1000;
    const usage = new UsageAggregator(h.kw.db, pino({ level: "silent" }), { now: () => new Date(clock) });
    const iso = (ms: number) => new Date(ms).toISOString();
    const use = (ip: string) => usage.record(keyId, ip, clock);
    const counts = async () => (await stored()).map((r) => r.count);
    const first = clock;
    use("203.0.113.1");
    await usage.flush(); // a first use: written at the next flush
    expect(await lastUse()).toEqual({ last_used_at: iso(first), last_used_ip: "203.0.113.1" });
    expect(await counts()).toEqual([1]);
    clock += 10_000;
    use("203.0.113.2");
    use("203.0.113.2");
    await usage.flush(); // written 10 s ago: counts and last use held back
    expect(await lastUse()).toEqual({ last_used_at: iso(first), last_used_ip: "203.0.113.1" });
    expect(await counts()).toEqual([1]);
    expect(usage.unflushed(keyId)).toMatchObject({ lastUsedAt: iso(clock), buckets: [{ count: 2 }] });
    clock = first + USAGE_WRITE_EVERY_MS - 1;
    await usage.flush(); // still held back, not lost
    expect(await counts()).toEqual([1]);
    clock = first + AGAIN;
    // A minute and the spread after the last write: written, though the key was not used since.
    await usage.flush();
    expect(await lastUse()).toEqual({ last_used_at: iso(first + 10_000), last_used_ip: "203.0.113.2" });
    expect(await counts()).toEqual([3]);
    expect(usage.unflushed(keyId)).toEqual({ lastUsedAt: null, lastUsedIp: null, buckets: [] });
    clock += AGAIN; // a quiet minute: the next use is written at the next flush
    use("203.0.113.3");
    await usage.flush();
    expect(await lastUse()).toEqual({ last_used_at: iso(clock), last_used_ip: "203.0.113.3" });
    expect(await counts()).toEqual([4]);
    clock += 1_000;
    use("203.0.113.4");
    await usage.flush(true); // everything, as on shutdown
    expect(await lastUse()).toEqual({ last_used_at: iso(clock), last_used_ip: "203.0.113.4" });
    expect(await counts()).toEqual([5]);
    await usage.close();
  });

  it("spreads the next writes of keys written together over the spread, not all at the minute", async () => {
    let clock = Date.now();
    const usage = new UsageAggregator(h.kw.db, pino({ level: "silent" }), { now: () => new Date(clock) });
    // Made-up ids: a key gone since its use is skipped, but its usage counts as written.
    const ids = Array.from({ length: 1000 }, (_, i) => `key_gone${i}`);
    const useAll = () => {
      for (const id of ids) usage.record(id, null, clock);
    };
    const held = () => ids.filter((id) => usage.unflushed(id).buckets.length > 0).length;
    useAll();
    await usage.flush(); // all written together
    expect(held()).toBe(0);
    clock += USAGE_WRITE_EVERY_MS - 1;
    useAll();
    await usage.flush();
    expect(held()).toBe(1000); // none due before the minute
    clock += USAGE_WRITE_SPREAD_MS / 2 + 1;
    await usage.flush();
    // Each came due at a random point of the spread: about half by its middle.
    expect(held()).toBeGreaterThan(200);
    expect(held()).toBeLessThan(800);
    clock += USAGE_WRITE_SPREAD_MS / 2;
    await usage.flush();
    expect(held()).toBe(0);
    await usage.close();
  });

  it("lets go of idle tallies past its bound; a key used again through a let-go tally counts once", async () => {
    const usage = new UsageAggregator(h.kw.db, pino({ level: "silent" }), { maxTallies: 1 });
    const other = (await mkKey(h, org.token, org.orgId, { name: "other" })).id;
    const now = Date.now();
    const kept = usage.record(keyId, null, now); // as the verify cache keeps it
    usage.record(other, null, now);
    await usage.flush(true); // both written, then both idle: two tallies, bound one
    expect(kept.dropped).toBe(true);
    usage.record(keyId, "203.0.113.5", now + 1, kept); // looked up again: a new tally
    expect(usage.unflushed(keyId)).toMatchObject({ lastUsedIp: "203.0.113.5", buckets: [{ count: 1 }] });
    await usage.flush(true);
    expect((await stored()).map((r) => r.count)).toEqual([2]);
    expect(await lastUse()).toMatchObject({ last_used_ip: "203.0.113.5" });
    await usage.close();
  });

  it("lets the API write while a large flush is being written", async () => {
    const { usage } = h.kw.services.verify;
    const now = Date.now();
    // Keys deleted since their use are skipped, so made-up ids give the flush real work only.
    for (let i = 0; i < 5_000; i++) usage.record(`key_gone${i}`, null, now);
    usage.record(keyId, null, now);
    const flushed = usage.flush();
    const created = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        h.req("POST", `/v1/orgs/${org.orgId}/api-keys`, { token: org.token, body: { name: `during-${i}` } }),
      ),
    );
    await flushed;
    expect(created.map((r) => r.status)).toEqual(Array(10).fill(201));
    expect((await stored()).map((r) => r.count)).toEqual([1]);
  });

  it("stores every count once when two nodes flush the same keys at once, in opposite orders", async () => {
    // Two nodes' flushes overlap whenever their timers do. In PostgreSQL each part is a
    // transaction that locks its rows as it writes them: in opposite orders, two of them
    // would deadlock and one would fail. Many keys, so that the two overlap: copies of the
    // key's row (usage is stored only for keys that exist).
    const db = h.kw.db.kysely;
    const row = await db.selectFrom("api_keys").selectAll().where("id", "=", keyId).executeTakeFirstOrThrow();
    const copies = Array.from({ length: 600 }, (_, i) => ({
      ...row,
      id: `${keyId}_${i}`,
      secret_hash: sha256(`copy ${i}`),
    }));
    for (let i = 0; i < copies.length; i += 100)
      await db
        .insertInto("api_keys")
        .values(copies.slice(i, i + 100))
        .execute();
    const ids = [keyId, ...copies.map((c) => c.id)];
    const silent = pino({ level: "silent" });
    // One transaction per flush; each round late enough that each flush writes every key.
    let clock = Date.now();
    const one = () => new UsageAggregator(h.kw.db, silent, { transactionRows: 1_000, now: () => new Date(clock) });
    const nodes = [one(), one()];
    const now = Date.now();
    const rounds = 10;
    for (let r = 0; r < rounds; r++, clock += AGAIN) {
      for (const id of ids) nodes[0].record(id, null, now);
      for (const id of [...ids].reverse()) nodes[1].record(id, null, now);
      await Promise.all(nodes.map((n) => n.flush()));
      // A failed flush keeps its counts for the next one: none may be left.
      for (const node of nodes) expect(ids.filter((id) => node.unflushed(id).buckets.length > 0)).toEqual([]);
    }
    const rows = await db.selectFrom("key_usage").select(["key_id", "count"]).where("key_id", "in", ids).execute();
    expect(rows.map((r) => Number(r.count))).toEqual(Array(ids.length).fill(2 * rounds));
    await Promise.all(nodes.map((n) => n.close()));
  });

  it("counts every verification once across flushes, failed ones included (the tally kept on the cached key)", async () => {
    const { usage } = h.kw.services.verify;
    const verifier = await verifierKey(h);
    const verifyTimes = async (n: number, ip: string) => {
      for (let i = 0; i < n; i++) expect((await verify(h, verifier, { key: secret, ip })).body.valid).toBe(true);
    };
    await verifyTimes(3, "203.0.113.1");
    await usage.flush(); // the cached key's tally now belongs to a written batch
    await verifyTimes(2, "203.0.113.2");
    expect(usage.unflushed(keyId).buckets.map((b) => b.count)).toEqual([2]);
    await sql`alter table key_usage rename to key_usage_away`.execute(h.kw.db.kysely);
    await usage.flush(true); // fails: the batch is put back
    await sql`alter table key_usage_away rename to key_usage`.execute(h.kw.db.kysely);
    await verifyTimes(4, "203.0.113.3");
    expect(usage.unflushed(keyId).buckets.map((b) => b.count)).toEqual([6]);
    await usage.flush(true);
    expect((await stored()).map((r) => r.count)).toEqual([9]);
    expect(await lastUse()).toMatchObject({ last_used_ip: "203.0.113.3" });
    const cached = h.kw.services.verify.cache.stats;
    expect(cached.misses).toBeLessThanOrEqual(2); // the key and the verifier, each loaded once
  });

  describe("a usage read while a flush commits", () => {
    /**
     * Once the usage route's `key_usage` read has its rows, runs `hook` before the route goes
     * on (wraps the query builder): a flush can commit there, after the rows were read and
     * before the route asks for what is not yet stored.
     */
    const afterUsageRows = (hook: () => Promise<void>) => {
      const kysely = h.kw.db.kysely as unknown as { selectFrom: (t: string) => object };
      const selectFrom = kysely.selectFrom.bind(kysely);
      const wrap = (qb: object): object =>
        new Proxy(qb, {
          get(target, prop) {
            const v = (target as Record<string | symbol, unknown>)[prop];
            if (typeof v !== "function") return v;
            if (prop === "execute")
              return async (...a: unknown[]) => {
                const rows = await v.apply(target, a);
                await hook();
                return rows;
              };
            return (...a: unknown[]) => {
              const r = v.apply(target, a);
              return r && typeof r === "object" && "execute" in r ? wrap(r) : r;
            };
          },
        });
      kysely.selectFrom = (t: string) => (t === "key_usage" ? wrap(selectFrom(t)) : selectFrom(t));
    };

    it("counts every use once when the flush commits between the stored rows and the rest", async () => {
      const verifier = await verifierKey(h);
      const { usage } = h.kw.services.verify;
      for (let i = 0; i < 3; i++) expect((await verify(h, verifier, { key: secret })).body.valid).toBe(true);
      await usage.flush(true);
      for (let i = 0; i < 2; i++) expect((await verify(h, verifier, { key: secret })).body.valid).toBe(true);
      let flushed = false;
      afterUsageRows(async () => {
        if (flushed) return;
        flushed = true;
        await usage.flush(true); // the 2 in memory, stored now: read 3 before, flagged after
      });
      const res = await h.req("GET", `/v1/api-keys/${keyId}/usage`, { token: org.token });
      expect(flushed).toBe(true);
      expect(res.body.total).toBe(5); // was 3
    });

    it("counts every use once, read after read, while flushes run beside the reads", async () => {
      const verifier = await verifierKey(h);
      const { usage } = h.kw.services.verify;
      let expected = 0;
      const wrong: string[] = [];
      for (let i = 0; i < 100; i++) {
        for (let j = 0; j < 3; j++) if ((await verify(h, verifier, { key: secret })).body.valid) expected++;
        const [, res] = await Promise.all([
          new Promise((r) => setTimeout(r, i % 5)).then(() => usage.flush(true)),
          h.req("GET", `/v1/api-keys/${keyId}/usage`, { token: org.token }),
        ]);
        if (res.body.total !== expected) wrong.push(`read ${i}: ${res.body.total}, not ${expected}`);
      }
      expect(wrong).toEqual([]);
    }, 60_000);
  });
});
