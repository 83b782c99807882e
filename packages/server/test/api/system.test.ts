import pg from "pg";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { IAM_PERMISSIONS } from "../../src/domain/permissions/catalog.js";
import { generateSecret } from "../../src/domain/keys/secret.js";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey } from "./key-helpers.js";
import { scrape } from "./metrics-helpers.js";
import { verifierKey, verify } from "./verify-helpers.js";

describeEachDialect("system endpoints", (dialect) => {
  let h: Harness;

  beforeAll(async () => {
    h = await Harness.init(dialect);
  });
  afterAll(async () => h?.close());

  it("GET /v1/permissions lists iam:* and the operator's permissions from the config file", async () => {
    const res = await h.req("GET", "/v1/permissions");
    expect(res.status).toBe(200);
    const names = res.body.items.map((p: { name: string }) => p.name);
    expect(names.slice(0, IAM_PERMISSIONS.length)).toEqual(IAM_PERMISSIONS.map((p) => p.name));
    expect(names.slice(IAM_PERMISSIONS.length)).toEqual([
      "compute:read",
      "compute:write",
      "compute:delete",
      "storage:read",
      "storage:write",
      "storage:delete",
    ]);
    const byName = new Map(res.body.items.map((p: { name: string }) => [p.name, p]));
    expect(byName.get("compute:read")).toEqual({
      name: "compute:read",
      description: "Read instances",
      platform: false,
      readOnly: true,
    });
    expect(byName.get("compute:write")).toMatchObject({ readOnly: false, platform: false });
    expect(byName.get("iam:apikeys:verify")).toMatchObject({ platform: true, readOnly: false });
  });

  it("answers /healthz", async () => {
    const res = await h.req("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  it("answers /readyz with the database dialect", async () => {
    const res = await h.req("GET", "/readyz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok", database: dialect });
  });

  it("serves Prometheus metrics that count requests", async () => {
    await h.req("GET", "/healthz");
    const res = await h.req("GET", "/metrics");
    expect(res.status).toBe(200);
    expect(String(res.headers["content-type"])).toContain("text/plain");
    const text = String(res.body);
    expect(text).toMatch(/^# HELP /m);
    expect(text).toMatch(/^# TYPE \S+ (counter|histogram|gauge)/m);
    expect(text).toContain("/healthz");
  });

  it("counts every answer once by route and status, errors included, and times it", async () => {
    const count = async (series: string) => (await scrape(h))(series);
    const ok = 'keyward_http_requests_total{method="GET",route="/healthz",status="200"}';
    const denied = 'keyward_http_requests_total{method="GET",route="/v1/me",status="401"}';
    const missing = 'keyward_http_requests_total{method="GET",route="unmatched",status="404"}';
    const badUrl = 'keyward_http_requests_total{method="GET",route="unmatched",status="400"}';
    const timed = 'keyward_http_request_duration_seconds_count{method="GET",route="/healthz"}';
    const series = [ok, denied, missing, badUrl, timed];
    const before = await Promise.all(series.map(count));
    await h.req("GET", "/healthz");
    await h.req("GET", "/healthz");
    await h.req("GET", "/v1/me");
    await h.req("GET", "/v1/no-such-route");
    // A URL Fastify cannot decode is answered before any route: problem+json, and counted too.
    const bad = await h.req("GET", "/v1/api-keys/%zz/usage");
    expect(bad.status).toBe(400);
    expect(bad.headers["content-type"]).toContain("application/problem+json");
    expect(bad.body.code).toBe("INVALID_REQUEST");
    const after = await Promise.all(series.map(count));
    expect(after.map((n, i) => n - before[i])).toEqual([2, 1, 1, 1, 2]);
    const sum = await count('keyward_http_request_duration_seconds_sum{method="GET",route="/healthz"}');
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(10);
  });

  it("exposes the verify cache's entries, lookups by result and invalidations", async () => {
    const read = async () => {
      const value = await scrape(h);
      return {
        entries: value("keyward_verify_cache_entries"),
        hit: value('keyward_verify_cache_lookups_total{result="hit"}'),
        miss: value('keyward_verify_cache_lookups_total{result="miss"}'),
        negative: value('keyward_verify_cache_lookups_total{result="negative_hit"}'),
        invalidations: value("keyward_verify_cache_invalidations_total"),
      };
    };
    const verifier = await verifierKey(h);
    const org = await h.newOrgWithOwner("metrics");
    const key = await mkKey(h, org.token, org.orgId, { name: "m" });
    const unknown = generateSecret("kw").secret;
    await verify(h, verifier, { key: key.secret }); // warms the verifier's own credential too
    const before = await read();
    await verify(h, verifier, { key: key.secret });
    await verify(h, verifier, { key: unknown });
    await verify(h, verifier, { key: unknown });
    const edited = await h.req("PATCH", `/v1/api-keys/${key.id}`, { token: org.token, body: { name: "m2" } });
    expect(edited.status).toBe(200);
    const after = await read();
    // Hits: the key once and the verifier's credential three times; one miss and one negative hit for the unknown key.
    expect(after.hit - before.hit).toBe(4);
    expect(after.miss - before.miss).toBe(1);
    expect(after.negative - before.negative).toBe(1);
    expect(after.invalidations - before.invalidations).toBeGreaterThanOrEqual(1);
    expect(before.entries).toBeGreaterThanOrEqual(2);
  });

  it("holds at most KEYWARD_CACHE_KEYS keys in the verify cache, and still answers the ones it let go", async () => {
    const small = await Harness.init(dialect, { KEYWARD_CACHE_KEYS: "3" });
    try {
      const verifier = await verifierKey(small);
      const org = await small.newOrgWithOwner("small");
      const keys = [];
      for (const name of ["a", "b", "c", "d"]) keys.push(await mkKey(small, org.token, org.orgId, { name }));
      for (const k of keys) expect((await verify(small, verifier, { key: k.secret })).body.valid).toBe(true);
      const { cache } = small.kw.services.verify;
      expect(cache.size).toBe(3);
      const misses = cache.stats.misses;
      // The first key, idle since it was loaded, was let go to make room: loaded again, still valid.
      expect((await verify(small, verifier, { key: keys[0].secret })).body).toMatchObject({
        valid: true,
        keyId: keys[0].id,
      });
      expect(cache.stats.misses).toBe(misses + 1);
      expect(cache.size).toBe(3);
      // Operators see it in /metrics: c, d and the first key again each made room.
      expect((await scrape(small))("keyward_verify_cache_evictions_total")).toBe(3);
    } finally {
      await small.close();
    }
  });

  it("sets a request id header on every response", async () => {
    const res = await h.req("GET", "/healthz");
    expect(res.headers["x-request-id"]).toMatch(/^req_[0-9A-Za-z]{24}$/);
    // A client cannot choose it.
    const forced = await h.req("GET", "/healthz", { headers: { "x-request-id": "req_chosen" } });
    expect(forced.headers["x-request-id"]).not.toBe("req_chosen");
  });
});

describeEachDialect("readiness when the database is gone", (dialect) => {
  it("answers /readyz with 503", async () => {
    const h = await Harness.init(dialect);
    try {
      await h.kw.db.close();
      const res = await h.req("GET", "/readyz");
      expect(res.status).toBe(503);
      expect(res.body.code).toBe("UNAVAILABLE");
    } finally {
      await h.kw.app.close().catch(() => {});
      if (h.kw.db.schema) {
        const client = new pg.Client({ connectionString: inject("pgUrl") });
        await client.connect();
        await client.query(`drop schema if exists ${h.kw.db.schema} cascade`);
        await client.end();
      }
    }
  });
});
