import path from "node:path";
import SQLite from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey } from "./key-helpers.js";
import { verifierKey, verify } from "./verify-helpers.js";

describeEachDialect("key usage", (dialect) => {
  let h: Harness;
  let verifier: string;
  let org: { token: string; orgId: string; userId: string };

  beforeEach(async () => {
    h = await Harness.init(dialect);
    verifier = await verifierKey(h);
    org = await h.newOrgWithOwner("usage");
  });
  afterEach(async () => h.close());

  describe("happy", () => {
    it("counts verifications per hour in memory, then flushes them in a batch", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const { usage } = h.kw.services.verify;
      usage.stop();
      for (let i = 0; i < 3; i++) await verify(h, verifier, { key: k.secret, ip: "203.0.113.7" });
      // Nothing written yet: the hot path only counts.
      const stored = await h.kw.db.kysely.selectFrom("key_usage").selectAll().where("key_id", "=", k.id).execute();
      expect(stored).toHaveLength(0);

      const res = await h.req("GET", `/v1/api-keys/${k.id}/usage`, { token: org.token });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ keyId: k.id, total: 3, lastUsedIp: "203.0.113.7" });
      expect(res.body.items).toHaveLength(1);
      expect(res.body.items[0].hour).toMatch(/T\d\d:00:00\.000Z$/);
      // The key page and the keys table say so too, before the flush (they said "never used").
      const got = await h.req("GET", `/v1/api-keys/${k.id}`, { token: org.token });
      const listed = await h.req("GET", `/v1/orgs/${org.orgId}/api-keys`, { token: org.token });
      const row0 = listed.body.items.find((x: { id: string }) => x.id === k.id);
      expect({ get: got.body.lastUsedAt, list: row0.lastUsedAt, ip: got.body.lastUsedIp }).toEqual({
        get: res.body.lastUsedAt,
        list: res.body.lastUsedAt,
        ip: "203.0.113.7",
      });
      // So does every answer that carries the key: the console and the CLI show it as the key.
      const last = { lastUsedAt: res.body.lastUsedAt, lastUsedIp: "203.0.113.7" };
      const auth = { token: org.token };
      const patched = await h.req("PATCH", `/v1/api-keys/${k.id}`, { ...auth, body: { description: "d" } });
      expect(patched.body).toMatchObject(last);
      expect((await h.req("POST", `/v1/api-keys/${k.id}/disable`, auth)).body).toMatchObject(last);
      expect((await h.req("POST", `/v1/api-keys/${k.id}/enable`, auth)).body).toMatchObject(last);
      const regenerated = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, {
        ...auth,
        body: { graceSeconds: 60 },
      });
      expect(regenerated.body.apiKey).toMatchObject(last);
      k.secret = regenerated.body.secret;

      await usage.flush();
      const rows = await h.kw.db.kysely.selectFrom("key_usage").selectAll().where("key_id", "=", k.id).execute();
      expect(rows.map((r) => Number(r.count))).toEqual([3]);
      const row = await h.kw.db.kysely
        .selectFrom("api_keys")
        .select(["last_used_at", "last_used_ip"])
        .where("id", "=", k.id)
        .executeTakeFirstOrThrow();
      expect(row.last_used_ip).toBe("203.0.113.7");
      expect(row.last_used_at).not.toBeNull();

      // Counted once, not twice, after the flush; later uses add to the same bucket.
      await verify(h, verifier, { key: k.secret, ip: "203.0.113.8" });
      // A key's last use is rewritten at most once a minute, unless a flush writes everything.
      await usage.flush(true);
      const again = await h.req("GET", `/v1/api-keys/${k.id}/usage`, { token: org.token });
      expect(again.body).toMatchObject({ total: 4, lastUsedIp: "203.0.113.8" });
      const key = await h.req("GET", `/v1/api-keys/${k.id}`, { token: org.token });
      expect(key.body.lastUsedIp).toBe("203.0.113.8");
    });

    it("counts a key used as a credential on Keyward's own API", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "script" });
      h.kw.services.verify.usage.stop();
      const listed = await h.req("GET", `/v1/orgs/${org.orgId}/projects`, { token: k.secret, ip: "203.0.113.9" });
      expect(listed.status).toBe(200);
      const res = await h.req("GET", `/v1/api-keys/${k.id}/usage`, { token: org.token });
      expect(res.body).toMatchObject({ total: 1, lastUsedIp: "203.0.113.9" });
      expect(res.body.lastUsedAt).not.toBeNull();
    });

    it("skips keys deleted before the flush, and stores the other keys' counts of the same flush", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const kept = await mkKey(h, org.token, org.orgId, { name: "kept" });
      await verify(h, verifier, { key: k.secret });
      await verify(h, verifier, { key: kept.secret });
      await h.req("DELETE", `/v1/api-keys/${k.id}`, { token: org.token });
      await h.kw.services.verify.usage.flush();
      const rows = await h.kw.db.kysely
        .selectFrom("key_usage")
        .select(["key_id", "count"])
        .where("key_id", "in", [k.id, kept.id])
        .execute();
      expect(rows.map((r) => [r.key_id, Number(r.count)])).toEqual([[kept.id, 1]]);
      // Stored, not kept back for a retry: nothing of it is left to write.
      expect(h.kw.services.verify.usage.unflushed(kept.id).buckets).toEqual([]);
    });

    it("records the end client's address as an address, not as the text sent", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      for (const [sent, stored] of [
        ["\u00a0\t203.0.113.9\u2028 ", "203.0.113.9"],
        ["::FFFF:203.0.113.10", "203.0.113.10"],
        ["2001:DB8:0:0::1", "2001:db8::1"],
      ]) {
        expect((await verify(h, verifier, { key: k.secret, ip: sent })).body.valid).toBe(true);
        const usage = await h.req("GET", `/v1/api-keys/${k.id}/usage`, { token: org.token });
        expect(usage.body.lastUsedIp).toBe(stored);
      }
    });

    it("filters by from/to", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      await verify(h, verifier, { key: k.secret });
      const past = new Date(Date.now() - 5 * 86_400_000).toISOString();
      const earlier = new Date(Date.now() - 6 * 86_400_000).toISOString();
      const res = await h.req("GET", `/v1/api-keys/${k.id}/usage?from=${earlier}&to=${past}`, { token: org.token });
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(0);
      const bad = await h.req("GET", `/v1/api-keys/${k.id}/usage?from=${past}&to=${earlier}`, { token: org.token });
      expect(bad.status).toBe(400);
      const junk = await h.req("GET", `/v1/api-keys/${k.id}/usage?from=yesterday`, { token: org.token });
      expect(junk.status).toBe(400);
    });
  });

  describe("range", () => {
    const HOUR = 3_600_000;
    const DAY = 24 * HOUR;
    const iso = (ms: number) => new Date(ms).toISOString();

    it("counts whole UTC hours in [from, to): consecutive days add up, none counted twice", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const { usage } = h.kw.services.verify;
      usage.stop();
      const d = Math.floor(Date.now() / DAY) * DAY - 2 * DAY; // a UTC midnight two days ago
      usage.record(k.id, null, d - 1); // the day before's last hour
      usage.record(k.id, null, d);
      usage.record(k.id, null, d);
      await usage.flush(true); // stored
      for (let i = 0; i < 3; i++) usage.record(k.id, null, d + 1 + i); // not yet stored, same hour
      const get = async (from: number | string, to: number | string) => {
        const q = (v: number | string) => (typeof v === "number" ? iso(v) : v);
        const res = await h.req("GET", `/v1/api-keys/${k.id}/usage?from=${q(from)}&to=${q(to)}`, { token: org.token });
        expect(res.status).toBe(200);
        expect(res.body.total).toBe(res.body.items.reduce((n: number, i: { count: number }) => n + i.count, 0));
        return res.body;
      };
      const before = await get(d - DAY, d);
      expect(before).toMatchObject({
        from: iso(d - DAY),
        to: iso(d),
        total: 1,
        items: [{ hour: iso(d - HOUR), count: 1 }],
      });
      const day = await get(d, d + DAY);
      expect(day).toMatchObject({ total: 5, items: [{ hour: iso(d), count: 5 }] });
      expect(before.total + day.total).toBe(6);
      // A range within one hour still returns that hour; the answer says which hours it covers.
      expect(await get(d + 10 * 60_000, d + 20 * 60_000)).toMatchObject({
        from: iso(d),
        to: iso(d + HOUR),
        total: 5,
      });
      // An empty range at an hour's start counts nothing; the hour before it is outside it.
      expect((await get(d, d)).total).toBe(0);
      expect((await get(d - HOUR + 1, d)).items).toEqual([{ hour: iso(d - HOUR), count: 1 }]);
      // The default: the last 7 days up to now.
      const all = await h.req("GET", `/v1/api-keys/${k.id}/usage`, { token: org.token });
      expect(all.body.total).toBe(6);
      // At most 92 days.
      expect((await get(d - 92 * DAY, d)).total).toBe(1);
      const long = await h.req("GET", `/v1/api-keys/${k.id}/usage?from=${iso(d - 92 * DAY - 1)}&to=${iso(d)}`, {
        token: org.token,
      });
      expect(long.status).toBe(400);
      // "The last 92 days" from half past an hour is taken: its whole hours reach an hour further.
      const half = await h.req(
        "GET",
        `/v1/api-keys/${k.id}/usage?from=${iso(d + HOUR / 2 - 92 * DAY)}&to=${iso(d + HOUR / 2)}`,
        { token: org.token },
      );
      expect(half.status).toBe(200);
      expect(Date.parse(half.body.to) - Date.parse(half.body.from)).toBe(92 * DAY + HOUR);
    });

    it("shows the last use that goes with the counts, though a flush commits during the read", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "k" });
      const { usage } = h.kw.services.verify;
      usage.stop();
      expect((await verify(h, verifier, { key: k.secret, ip: "203.0.113.9" })).body.valid).toBe(true);
      // The flush commits after the route found the key, before it reads the counts.
      const original = usage.consistentRead.bind(usage);
      usage.consistentRead = (async (read: () => Promise<unknown>) => {
        await usage.flush(true);
        return original(read);
      }) as typeof usage.consistentRead;
      const res = await h.req("GET", `/v1/api-keys/${k.id}/usage`, { token: org.token });
      usage.consistentRead = original;
      expect(res.body).toMatchObject({ total: 1, lastUsedIp: "203.0.113.9" });
      expect(res.body.lastUsedAt).not.toBeNull();
    });

    it("keeps a last use that a flush wrote while a PATCH of the key was under way", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "k" });
      const { usage } = h.kw.services.verify;
      usage.stop();
      expect((await verify(h, verifier, { key: k.secret, ip: "203.0.113.7" })).body.valid).toBe(true);
      // The periodic flush commits between the PATCH's read of the key and its write.
      const svc = h.kw.services.apiKeys;
      const original = svc.loadVisible.bind(svc);
      svc.loadVisible = async (...args: Parameters<typeof original>) => {
        const got = await original(...args);
        await usage.flush(true);
        return got;
      };
      const patch = await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: org.token, body: { name: "renamed" } });
      svc.loadVisible = original;
      expect(patch.status).toBe(200);
      const stored = await h.kw.db.kysely
        .selectFrom("api_keys")
        .select(["name", "last_used_at", "last_used_ip"])
        .where("id", "=", k.id)
        .executeTakeFirstOrThrow();
      expect(stored).toMatchObject({ name: "renamed", last_used_ip: "203.0.113.7" });
      expect(stored.last_used_at).not.toBeNull();
    });

    it("answers 400 naming the field for a date-time that is no instant (a leap second)", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      for (const field of ["from", "to"]) {
        const res = await h.req("GET", `/v1/api-keys/${k.id}/usage?${field}=2026-06-30T23:59:60Z`, {
          token: org.token,
        });
        expect(res.status).toBe(400);
        expect(String(res.headers["content-type"])).toContain("application/problem+json");
        expect(res.body).toMatchObject({ code: "INVALID_REQUEST", errors: [{ path: field, code: "format" }] });
      }
    });
    it("answers 400 naming the field for a range whose whole hours leave four-digit years", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const cases: [string, string][] = [
        ["to=9999-12-31T23:30:00Z", "to"], // its hour ends in year 10000
        ["from=9999-12-31T23:00:00Z&to=9999-12-31T23:59:59Z", "to"],
        ["to=0000-01-01T00:30:00Z", "to"], // the default week before starts in year -1
        ["from=-000001-12-31T00:00:00Z&to=0000-01-02T00:00:00Z", "from"],
      ];
      for (const [query, path] of cases) {
        const res = await h.req("GET", `/v1/api-keys/${k.id}/usage?${query}`, { token: org.token });
        expect(res.status, query).toBe(400);
        expect(res.body.errors[0].path, query).toBe(path);
      }
      // The edges themselves are fine.
      const edge = await h.req("GET", `/v1/api-keys/${k.id}/usage?from=0000-01-01T00:00:00Z&to=0000-01-02T00:00:00Z`, {
        token: org.token,
      });
      expect(edge.body).toMatchObject({ from: "0000-01-01T00:00:00.000Z", to: "0000-01-02T00:00:00.000Z" });
    });
  });

  describe("authorization", () => {
    it("shows usage to the key's owner and to iam:apikeys:manage, 404 to others", async () => {
      const member = await h.newMember(org.orgId, org.token, [{ roleId: "role_member" }]);
      const memberKey = await mkKey(h, member.token, org.orgId, { name: "mine" });
      const ownerKey = await mkKey(h, org.token, org.orgId, { name: "owner's" });
      expect((await h.req("GET", `/v1/api-keys/${memberKey.id}/usage`, { token: member.token })).status).toBe(200);
      expect((await h.req("GET", `/v1/api-keys/${memberKey.id}/usage`, { token: org.token })).status).toBe(200);
      expect((await h.req("GET", `/v1/api-keys/${ownerKey.id}/usage`, { token: member.token })).status).toBe(404);
      const stranger = await h.newOrgWithOwner("stranger");
      expect((await h.req("GET", `/v1/api-keys/${memberKey.id}/usage`, { token: stranger.token })).status).toBe(404);
      expect((await h.req("GET", "/v1/api-keys/key_doesnotexist/usage", { token: org.token })).status).toBe(404);
      expect((await h.req("GET", `/v1/api-keys/${memberKey.id}/usage`)).status).toBe(401);
    });
  });
});

describe("usage on shutdown", () => {
  it("flushes what is left when the app closes", async () => {
    const h = await Harness.init("sqlite");
    try {
      const verifier = await verifierKey(h);
      const org = await h.newOrgWithOwner("usage");
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      await verify(h, verifier, { key: k.secret });
      await verify(h, verifier, { key: k.secret });
      const file = path.join(h.kw.services.deps.config.dataDir, "keyward.db");
      await h.kw.close();
      const db = new SQLite(file, { readonly: true });
      const row = db.prepare("select count from key_usage where key_id = ?").get(k.id) as { count: number };
      db.close();
      expect(row.count).toBe(2);
    } finally {
      await h.close();
    }
  });
});
