import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { randomBase62 } from "../../src/domain/ids.js";
import type { Database } from "../../src/store/schema.js";
import { type KeyChange, KeyEvents } from "../../src/services/key-events.js";
import {
  type InvalidationBus,
  type InvalidationListener,
  LocalInvalidationBus,
  NOTIFY_CHANNEL,
  PgInvalidationBus,
} from "../../src/services/verify/invalidation.js";
import { KeyCache } from "../../src/services/verify/key-cache.js";
import { pgProxy } from "../pg-proxy.js";

const logger = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs = 3000) {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await sleep(10);
  }
}

/** One node: its own key events and bus. */
interface Node {
  events: KeyEvents;
  bus: InvalidationBus;
  /** The node's shared database pool (PostgreSQL only). */
  pool?: pg.Pool;
}

interface NodeOptions {
  /** Database URL for the node (PostgreSQL only; e.g. through a test proxy). */
  url?: string;
  stallMs?: number;
  /**
   * PostgreSQL only: the schema the node is configured with, and its pool's search path.
   * By default the cluster's own schema for both; `null` for no search path (the server's default).
   */
  schema?: { configured: string; searchPath: string | null };
}

interface Impl {
  name: "local" | "postgres";
  /** A node; nodes made by one `cluster()` share a database. */
  cluster(): Promise<{ node(opts?: NodeOptions): Promise<Node>; close(): Promise<void> }>;
}

const impls: Impl[] = [
  {
    name: "local",
    async cluster() {
      const buses: InvalidationBus[] = [];
      return {
        async node() {
          const events = new KeyEvents();
          const bus = new LocalInvalidationBus(events);
          await bus.start();
          buses.push(bus);
          return { events, bus };
        },
        close: async () => void (await Promise.all(buses.map((b) => b.close()))),
      };
    },
  },
  {
    name: "postgres",
    async cluster() {
      const schema = `t_${randomBase62(10).toLowerCase()}`;
      const admin = new pg.Client({ connectionString: inject("pgUrl") });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      const pools: pg.Pool[] = [];
      const buses: InvalidationBus[] = [];
      return {
        async node(opts: NodeOptions = {}) {
          const { configured, searchPath } = opts.schema ?? { configured: schema, searchPath: schema };
          const pool = new pg.Pool({
            connectionString: opts.url ?? inject("pgUrl"),
            max: 2,
            // As openDb sets it.
            options: searchPath ? `-c search_path=${searchPath}` : undefined,
          });
          pools.push(pool);
          const events = new KeyEvents();
          const bus = new PgInvalidationBus(events, pool, configured, logger, {
            heartbeatMs: 100,
            reconnectMs: 100,
            stallMs: opts.stallMs,
          });
          await bus.start();
          buses.push(bus);
          return { events, bus, pool };
        },
        async close() {
          await Promise.all(buses.map((b) => b.close()));
          await Promise.all(pools.map((p) => p.end()));
          await admin.query(`drop schema if exists ${schema} cascade`);
          await admin.end();
        },
      };
    },
  },
];

/** A query builder on a node's pool (PostgreSQL), to make changes in transactions as the services do. */
const kyselyOf = (n: Node) => new Kysely<Database>({ dialect: new PostgresDialect({ pool: n.pool as pg.Pool }) });

const collect = (bus: InvalidationBus) => {
  const changes: KeyChange[] = [];
  let resets = 0;
  const listener: InvalidationListener = { change: (c) => changes.push(c), reset: () => resets++ };
  bus.subscribe(listener);
  return { changes, resets: () => resets };
};

interface Val {
  id: string;
  org: string;
  owner: string;
}
const tags = (v: Val) => ({ keyId: v.id, orgId: v.org, principalId: v.owner });

for (const impl of impls) {
  const run = impl.name === "local" || inject("pgAvailable");
  (run ? describe : describe.skip)(`invalidation bus contract [${impl.name}]`, () => {
    let cluster: Awaited<ReturnType<Impl["cluster"]>>;
    const proxies: Awaited<ReturnType<typeof pgProxy>>[] = [];
    beforeEach(async () => {
      cluster = await impl.cluster();
    });
    afterEach(async () => {
      await cluster.close();
      await Promise.all(proxies.splice(0).map((p) => p.close()));
    });

    it("applies a change made on this node at once", async () => {
      const a = await cluster.node();
      const seen = collect(a.bus);
      a.events.emit({ kind: "key", keyId: "key_1" });
      expect(seen.changes).toEqual([{ kind: "key", keyId: "key_1" }]);
    });

    it("keeps a warm cache fresh and drops exactly what a change touches", async () => {
      const a = await cluster.node();
      await until(() => Date.now() - a.bus.freshAsOf() < 1000);
      const cache = new KeyCache<Val>(a.bus, tags);
      const load = (v: Val) => async () => v;
      await cache.get("h1", load({ id: "key_1", org: "org_a", owner: "usr_1" }));
      await cache.get("h2", load({ id: "key_2", org: "org_a", owner: "usr_2" }));
      await cache.get("h3", load({ id: "key_3", org: "org_b", owner: "usr_1" }));
      expect(cache.peek("h1")).toBeTruthy();
      a.events.emit({ kind: "key", keyId: "key_1" });
      expect(cache.peek("h1")).toBeUndefined();
      expect(cache.peek("h2")).toBeTruthy();
      a.events.emit({ kind: "principal", orgId: "org_a", principalId: "usr_2" });
      expect(cache.peek("h2")).toBeUndefined();
      expect(cache.peek("h3")).toBeTruthy();
      a.events.emit({ kind: "org", orgId: "org_b" });
      expect(cache.peek("h3")).toBeUndefined();
      expect(cache.stats.invalidations).toBe(3);
    });

    it("does not cache a load that overlapped an invalidation", async () => {
      const a = await cluster.node();
      const cache = new KeyCache<Val>(a.bus, tags);
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const pending = cache.get("h1", async () => {
        await gate;
        return { id: "key_1", org: "org_a", owner: "usr_1" };
      });
      a.events.emit({ kind: "key", keyId: "key_1" });
      release();
      expect(await pending).toMatchObject({ id: "key_1" });
      expect(cache.peek("h1")).toBeUndefined();
    });

    if (impl.name === "postgres") {
      it("carries a change to another node within a second (p99 over 20 changes)", async () => {
        const a = await cluster.node();
        const b = await cluster.node();
        const seen = collect(b.bus);
        const db = kyselyOf(a);
        const delays: number[] = [];
        for (let i = 0; i < 20; i++) {
          const before = seen.changes.length;
          const change: KeyChange = { kind: "key", keyId: `key_${i}` };
          const t0 = performance.now();
          // As the services make a change: announced in its transaction, emitted after the commit.
          await db.transaction().execute((trx) => a.events.announce(trx, change));
          a.events.emit(change);
          await until(() => seen.changes.length > before, 2000);
          delays.push(performance.now() - t0);
        }
        delays.sort((x, y) => x - y);
        expect(delays[Math.ceil(delays.length * 0.99) - 1]).toBeLessThan(1000);
        expect(seen.changes.at(-1)).toEqual({ kind: "key", keyId: "key_19" });
        expect((a.bus as PgInvalidationBus).stats.unannounced).toBe(0);
      });

      it("sends a change announced in its transaction once; one emitted unannounced is sent after the commit, and counted", async () => {
        const a = await cluster.node();
        const bus = a.bus as PgInvalidationBus;
        const wire: { s: string; n: string; c?: KeyChange; hb?: number }[] = [];
        const listener = new pg.Client({ connectionString: inject("pgUrl") });
        await listener.connect();
        try {
          listener.on("notification", (m) => wire.push(JSON.parse(m.payload ?? "{}")));
          await listener.query(`LISTEN ${NOTIFY_CHANNEL}`);
          const announced: KeyChange = { kind: "key", keyId: "key_announced" };
          await kyselyOf(a)
            .transaction()
            .execute((trx) => a.events.announce(trx, announced));
          a.events.emit(announced);
          const forgotten: KeyChange = { kind: "org", orgId: "org_forgotten" };
          a.events.emit(forgotten);
          // Node a's messages arrive in order: its next heartbeat comes after anything it sent.
          const sentAt = Date.now();
          const mine = () => wire.filter((m) => m.n === wire.find((x) => x.c)?.n);
          await until(() => mine().some((m) => m.hb !== undefined && m.hb >= sentAt), 3000);
          const changes = mine().flatMap((m) => (m.c ? [m.c] : []));
          expect(changes).toEqual([announced, forgotten]);
          expect(bus.stats).toEqual({ unannounced: 1, lastUnannounced: forgotten });
        } finally {
          await listener.end();
        }
      });

      it("tells nodes apart by the schema they resolve to, not by how it is spelt in their config", async () => {
        // Two nodes of one deployment on the default schema: one configured with none, one with "public".
        const a = await cluster.node({ schema: { configured: "", searchPath: null } });
        const b = await cluster.node({ schema: { configured: "public", searchPath: "public" } });
        for (const [from, to] of [
          [a, b],
          [b, a],
        ]) {
          const seen = collect(to.bus);
          const change: KeyChange = { kind: "key", keyId: `key_${randomBase62(6)}` };
          await kyselyOf(from)
            .transaction()
            .execute((trx) => from.events.announce(trx, change));
          from.events.emit(change);
          await until(() => seen.changes.length > 0, 2000);
          expect(seen.changes).toEqual([change]);
        }
      });

      it("ignores nodes of another schema", async () => {
        const a = await cluster.node();
        const other = await impls[1].cluster();
        try {
          const x = await other.node();
          const seen = collect(x.bus);
          a.events.emit({ kind: "org", orgId: "org_a" });
          await sleep(300);
          expect(seen.changes).toEqual([]);
        } finally {
          await other.close();
        }
      });

      it("stops trusting the cache when the LISTEN connection drops, and resets on reconnect", async () => {
        const a = await cluster.node();
        const bus = a.bus as PgInvalidationBus;
        await until(() => Date.now() - bus.freshAsOf() < 500);
        const seen = collect(bus);
        const cache = new KeyCache<Val>(bus, tags, { freshnessMs: 300 });
        await cache.get("h1", async () => ({ id: "key_1", org: "org_a", owner: "usr_1" }));
        bus.simulateDisconnect();
        const stalled = bus.freshAsOf();
        await sleep(450);
        // No heartbeat got through: the entry has aged out of the freshness bound.
        expect(cache.peek("h1")).toBeUndefined();
        await until(() => seen.resets() > 0, 3000);
        await until(() => bus.freshAsOf() > stalled, 3000);
      });

      it("tells other nodes of a change by its commit, even if its node says nothing after it", async () => {
        const a = await cluster.node();
        const b = await cluster.node();
        const seen = collect(b.bus);
        const db = kyselyOf(a);
        const heard = (keyId: string) => seen.changes.some((c) => c.kind === "key" && c.keyId === keyId);
        // Announced inside the transaction, never emitted: as if node a died right after committing.
        await db.transaction().execute(async (trx) => {
          await a.events.announce(trx, { kind: "key", keyId: "key_committed" });
        });
        await until(() => heard("key_committed"), 2000);
        // A transaction that rolls back announces nothing.
        const failing = db.transaction().execute(async (trx) => {
          await a.events.announce(trx, { kind: "key", keyId: "key_rolled_back" });
          throw new Error("rolled back");
        });
        await expect(failing).rejects.toThrow("rolled back");
        // One committed after it: once that is heard, the rolled-back one would have been too.
        await db.transaction().execute((trx) => a.events.announce(trx, { kind: "key", keyId: "key_after" }));
        await until(() => heard("key_after"), 2000);
        expect(heard("key_rolled_back")).toBe(false);
      });

      it("announces a change at once even while the emitting node's pool is saturated", async () => {
        const a = await cluster.node();
        const b = await cluster.node();
        const seen = collect(b.bus);
        // Every pool connection busy, and one more query queued behind them (pool max is 2).
        const busy = Array.from({ length: 3 }, () => a.pool?.query("select pg_sleep(2)"));
        await sleep(200);
        const t0 = performance.now();
        a.events.emit({ kind: "key", keyId: "key_busy" });
        await until(() => seen.changes.length > 0, 1500);
        expect(performance.now() - t0).toBeLessThan(1000);
        expect(seen.changes).toEqual([{ kind: "key", keyId: "key_busy" }]);
        await Promise.all(busy);
      });

      it("drops a LISTEN connection that stops answering, reconnects and resets", async () => {
        const proxy = await pgProxy(inject("pgUrl"));
        proxies.push(proxy);
        const a = await cluster.node({ url: proxy.url, stallMs: 500 });
        const bus = a.bus as PgInvalidationBus;
        await until(() => Date.now() - bus.freshAsOf() < 500);
        const seen = collect(bus);
        proxy.blackhole(); // the socket stays open; nothing comes back
        const stalled = Date.now();
        await until(() => seen.resets() > 0, 3000);
        expect(Date.now() - stalled).toBeLessThan(3000);
        await until(() => bus.freshAsOf() > stalled, 3000);
        // Listening again: another node's change arrives.
        const b = await cluster.node();
        b.events.emit({ kind: "org", orgId: "org_x" });
        await until(() => seen.changes.some((c) => c.kind === "org" && c.orgId === "org_x"), 2000);
      });

      it("resends a change whose announcement could not go out, once reconnected", async () => {
        const proxy = await pgProxy(inject("pgUrl"));
        proxies.push(proxy);
        const a = await cluster.node({ url: proxy.url, stallMs: 500 });
        const b = await cluster.node();
        const seen = collect(b.bus);
        await until(() => Date.now() - a.bus.freshAsOf() < 500);
        proxy.blackhole();
        a.events.emit({ kind: "key", keyId: "key_stuck" });
        a.events.emit({ kind: "key", keyId: "key_stuck_2" });
        await until(() => seen.changes.length >= 2, 4000);
        expect(seen.changes).toEqual([
          { kind: "key", keyId: "key_stuck" },
          { kind: "key", keyId: "key_stuck_2" },
        ]);
      });
    }
  });
}

describe("key cache bounds", () => {
  it("ages entries out by the freshness bound when the bus is not current", async () => {
    let fresh = 0;
    let now = 1_000_000;
    const bus: InvalidationBus = {
      kind: "local",
      subscribe: () => () => {},
      start: async () => {},
      freshAsOf: () => fresh,
      close: async () => {},
    };
    const cache = new KeyCache<Val>(bus, tags, { freshnessMs: 5000, clock: () => now });
    await cache.get("h1", async () => ({ id: "key_1", org: "o", owner: "u" }));
    now += 4000;
    expect(cache.peek("h1")).toBeTruthy();
    now += 2000;
    expect(cache.peek("h1")).toBeUndefined();
    // A current bus (heartbeat just received) keeps old entries usable.
    await cache.get("h2", async () => ({ id: "key_2", org: "o", owner: "u" }));
    now += 60_000;
    fresh = now - 100;
    expect(cache.peek("h2")).toBeTruthy();
  });

  it("holds at most maxEntries, dropping the oldest unused, and caches misses", async () => {
    const bus = new LocalInvalidationBus(new KeyEvents());
    const cache = new KeyCache<Val>(bus, tags, { maxEntries: 3, maxNegative: 2 });
    for (let i = 0; i < 5; i++) await cache.get(`h${i}`, async () => ({ id: `key_${i}`, org: "o", owner: "u" }));
    expect(cache.size).toBe(3);
    expect(cache.peek("h0")).toBeUndefined();
    expect(cache.peek("h4")).toBeTruthy();
    let loads = 0;
    const miss = async () => {
      loads++;
      return null;
    };
    await cache.get("nope", miss);
    await cache.get("nope", miss);
    expect(loads).toBe(1);
    expect(cache.stats.negativeHits).toBe(1);
  });

  it("keeps a key in use when it must make room, and lets an idle one go", async () => {
    const cache = new KeyCache<Val>(new LocalInvalidationBus(new KeyEvents()), tags, { maxEntries: 3 });
    const loads: string[] = [];
    const load = async (id: string) => {
      loads.push(id);
      return { id: `key_${id}`, org: "o", owner: "u" };
    };
    const held = () => ["h0", "h1", "h2", "h3", "h4", "h5", "h6"].filter((id) => cache.peek(id) !== undefined);
    for (const id of ["h0", "h1", "h2"]) await cache.get(id, load);
    await cache.get("h0", load); // h0, the oldest, is in use
    await cache.get("h3", load); // room for h3: h1 goes, and h0 moves behind h2
    expect(held()).toEqual(["h0", "h2", "h3"]);
    await cache.get("h4", load);
    expect(held()).toEqual(["h0", "h3", "h4"]);
    // h0 had its second chance: unused since, it goes once it is the oldest again.
    await cache.get("h5", load);
    expect(held()).toEqual(["h3", "h4", "h5"]);
    // Every key in use: each is passed over once, then the oldest goes.
    for (const id of ["h3", "h4", "h5"]) await cache.get(id, load);
    await cache.get("h6", load);
    expect(held()).toEqual(["h4", "h5", "h6"]);
    expect(loads).toEqual(["h0", "h1", "h2", "h3", "h4", "h5", "h6"]);
    expect(cache.stats.evictions).toBe(4);
  });

  it("drops every entry of a key, owner or org, however many share it, and only those", async () => {
    const events = new KeyEvents();
    const cache = new KeyCache<Val>(new LocalInvalidationBus(events), tags, { maxEntries: 5 });
    const values: Record<string, Val> = {
      // Two secrets of one key (a rotation's grace period), a second key of the same owner,
      // another owner's key in the same org, and a key of another org.
      cur: { id: "key_1", org: "org_a", owner: "usr_1" },
      prev: { id: "key_1", org: "org_a", owner: "usr_1" },
      k2: { id: "key_2", org: "org_a", owner: "usr_1" },
      k3: { id: "key_3", org: "org_a", owner: "usr_2" },
      k4: { id: "key_4", org: "org_b", owner: "usr_1" },
    };
    const load = async (id: string) => values[id];
    const fill = async () => {
      for (const id of Object.keys(values)) await cache.get(id, load);
    };
    const held = () => Object.keys(values).filter((id) => cache.peek(id) !== undefined);
    await fill();
    events.emit({ kind: "key", keyId: "key_1" });
    expect(held()).toEqual(["k2", "k3", "k4"]);
    await fill();
    events.emit({ kind: "principal", orgId: "org_a", principalId: "usr_1" });
    expect(held()).toEqual(["k3", "k4"]);
    await fill();
    events.emit({ kind: "org", orgId: "org_a" });
    expect(held()).toEqual(["k4"]);
    // One of a key's two entries goes (made room for); a change still finds the other.
    await fill();
    await cache.get("k5", async () => ({ id: "key_5", org: "org_b", owner: "usr_3" }));
    expect(held()).toEqual(["prev", "k2", "k3", "k4"]);
    events.emit({ kind: "key", keyId: "key_1" });
    expect(held()).toEqual(["k2", "k3", "k4"]);
    expect(cache.peek("k5")).toBeTruthy();
  });

  /** A cache with a 10 s max age, on a clock the test moves. */
  const clockedCache = () => {
    const clock = { now: 1_000_000 };
    const cache = new KeyCache<Val>(new LocalInvalidationBus(new KeyEvents()), tags, {
      maxAgeMs: 10_000,
      clock: () => clock.now,
    });
    return { cache, clock };
  };

  it("reloads a key in use before its max age, in the background, at spread times", async () => {
    const { cache, clock } = clockedCache();
    let version = 1;
    const loads: string[] = [];
    const load = async (id: string) => {
      loads.push(id);
      return { id: `key_${id}`, org: "o", owner: `v${version}` };
    };
    const ids = Array.from({ length: 200 }, (_, i) => `h${i}`);
    for (const id of ids) await cache.get(id, load);
    expect(loads).toHaveLength(200);

    // Well before the refresh window: plain hits.
    clock.now += 7_000;
    version = 2;
    for (const id of ids) expect(cache.get(id, load)).toMatchObject({ owner: "v1" });
    expect(loads).toHaveLength(200);

    // Inside the window (75-95 % of the max age): some entries refresh, not all at once, and every
    // request is still answered from the cache, synchronously.
    clock.now += 1_500;
    for (const id of ids) expect(cache.get(id, load)).toMatchObject({ owner: "v1" });
    const refreshed = loads.length - 200;
    expect(refreshed).toBeGreaterThan(20);
    expect(refreshed).toBeLessThan(180);
    await sleep(0);

    // Past 95 %: every entry in use has been reloaded, none waited, and none was dropped at its max age.
    clock.now += 1_100;
    for (const id of ids) expect(cache.get(id, load)).not.toBeInstanceOf(Promise);
    await sleep(0);
    expect(loads).toHaveLength(400);
    expect(cache.stats.refreshes).toBe(200);
    clock.now += 1_000; // the first load's max age is over; the refreshed entries are current
    for (const id of ids) expect(cache.get(id, load)).toMatchObject({ owner: "v2" });
    expect(loads).toHaveLength(400);
    expect(cache.stats.misses).toBe(200);
  });

  it("keeps serving an entry whose background reload failed, until its max age", async () => {
    const { cache, clock } = clockedCache();
    await cache.get("h", async () => ({ id: "key_1", org: "o", owner: "u" }));
    let fails = 0;
    const down = async (): Promise<Val | null> => {
      fails++;
      throw new Error("store down");
    };
    clock.now += 9_600;
    expect(cache.get("h", down)).toMatchObject({ id: "key_1" });
    await sleep(0);
    expect(fails).toBe(1);
    expect(cache.get("h", down)).toMatchObject({ id: "key_1" });
    clock.now += 500; // past the max age: a miss that waits on the store, and its error reaches the caller
    await expect(cache.get("h", down)).rejects.toThrow("store down");
  });

  it("answers a loader-less hit like get: marked used, and nothing once its reload is due", async () => {
    const { cache, clock } = clockedCache();
    const load = async (id: string) => ({ id: `key_${id}`, org: "o", owner: "u" });
    await cache.get("h", load);
    expect(cache.hit("h")).toMatchObject({ id: "key_h" });
    expect(cache.hit("nope")).toBeUndefined();
    expect(cache.stats).toMatchObject({ hits: 1, loads: 1 });
    // Due for its reload (past 95 % of the max age): `hit` has no loader, so it leaves the entry
    // to `get`, which answers from the cache at once and reloads it in the background.
    clock.now += 9_600;
    expect(cache.peek("h")).toMatchObject({ id: "key_h" });
    expect(cache.hit("h")).toBeUndefined();
    expect(cache.get("h", load)).toMatchObject({ id: "key_h" });
    expect(cache.hit("h")).toMatchObject({ id: "key_h" }); // the reload is under way
    await sleep(0);
    clock.now += 1_000; // past the first load's max age: the reloaded entry serves
    expect(cache.hit("h")).toMatchObject({ id: "key_h" });
    expect(cache.stats).toMatchObject({ loads: 2, refreshes: 1 });

    // A hit marks the entry used: when room must be made, it stays and an idle one goes.
    const small = new KeyCache<Val>(new LocalInvalidationBus(new KeyEvents()), tags, { maxEntries: 2 });
    await small.get("a", load);
    await small.get("b", load);
    small.hit("a");
    await small.get("c", load);
    expect(["a", "b", "c"].filter((id) => small.peek(id) !== undefined)).toEqual(["a", "c"]);
  });

  it("stops serving a key that its background reload no longer finds", async () => {
    const { cache, clock } = clockedCache();
    await cache.get("h", async () => ({ id: "key_1", org: "o", owner: "u" }));
    const gone = async () => null; // deleted, and the notification was lost
    clock.now += 9_600;
    expect(cache.get("h", gone)).toMatchObject({ id: "key_1" });
    await sleep(0);
    expect(cache.get("h", gone)).toBeNull();
    expect(cache.stats.negativeHits).toBe(1);
  });

  it("does not hand a load started before an invalidation to a request made after it", async () => {
    const events = new KeyEvents();
    const bus = new LocalInvalidationBus(events);
    await bus.start();
    const cache = new KeyCache<Val>(bus, tags);
    let release: (v: Val) => void = () => {};
    const loads: string[] = [];
    const slow = () => {
      loads.push("before");
      return new Promise<Val>((r) => {
        release = r;
      });
    };
    const first = cache.get("h", slow);
    events.emit({ kind: "key", keyId: "key_1" }); // e.g. the key was disabled meanwhile
    const second = cache.get("h", async () => {
      loads.push("after");
      return { id: "key_1", org: "o", owner: "disabled" };
    });
    release({ id: "key_1", org: "o", owner: "enabled" });
    expect(await first).toMatchObject({ owner: "enabled" });
    expect(await second).toMatchObject({ owner: "disabled" });
    expect(loads).toEqual(["before", "after"]);
    expect(cache.get("h", slow)).toMatchObject({ owner: "disabled" });
    await bus.close();
  });

  it("loads once for concurrent misses of one key", async () => {
    const cache = new KeyCache<Val>(new LocalInvalidationBus(new KeyEvents()), tags);
    let loads = 0;
    const load = async () => {
      loads++;
      await sleep(20);
      return { id: "key_1", org: "o", owner: "u" };
    };
    await Promise.all([cache.get("h", load), cache.get("h", load), cache.get("h", load)]);
    expect(loads).toBe(1);
    // What it counts (/metrics reads these): three misses, one load.
    expect(cache.stats).toMatchObject({ misses: 3, loads: 1 });
  });
});
