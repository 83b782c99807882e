import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { Harness, TRANSPORTS } from "../harness.js";
import { pgProxy } from "../pg-proxy.js";
import { mkKey } from "./key-helpers.js";
import { verifierKey } from "./verify-helpers.js";

/**
 * What a node answers while its PostgreSQL is out of reach, and after it is back: through
 * Fastify, and over HTTP (where /v1/verify is answered in front of Fastify).
 */
(inject("pgAvailable") ? describe.each(TRANSPORTS) : describe.skip.each(TRANSPORTS))(
  "PostgreSQL down (%s)",
  (transport) => {
    let proxy: Awaited<ReturnType<typeof pgProxy>>;
    let h: Harness;
    beforeEach(async () => {
      proxy = await pgProxy(inject("pgUrl"));
      h = await Harness.init(
        "postgres",
        { KEYWARD_DATABASE_URL: proxy.url, KEYWARD_DATABASE_TIMEOUT_MS: "1000" },
        undefined,
        transport,
      );
    });
    afterEach(async () => {
      // Back up (if a failed test left it down), so the schema can be dropped.
      await proxy.up().catch(() => {});
      await h.close();
      await proxy.close();
    });

    it("answers 503 with Retry-After where the database is needed, the cached answer where not, and recovers", async () => {
      const owner = await h.login();
      const verifier = await verifierKey(h);
      const org = await h.newOrgWithOwner("down");
      const warm = await mkKey(h, org.token, org.orgId, { name: "warm" });
      const cold = await mkKey(h, org.token, org.orgId, { name: "cold" });
      const verify = (key: string) => h.req("POST", "/v1/verify", { token: verifier, body: { key } });
      expect((await verify(warm.secret)).body).toMatchObject({ valid: true, keyId: warm.id });

      await proxy.down();
      const unavailable = { status: 503, code: "UNAVAILABLE" };
      // Management: a session and an API key as credentials (both need the database here).
      for (const token of [owner, cold.secret]) {
        const res = await h.req("GET", "/v1/orgs", { token });
        expect(res.status).toBe(503);
        expect(res.headers["content-type"]).toContain("application/problem+json");
        expect(res.headers["retry-after"]).toBe("1");
        expect(res.body).toMatchObject(unavailable);
      }
      // A cold verify cannot be answered; a warm one (within the freshness bound) is.
      const coldRes = await verify(cold.secret);
      expect(coldRes.status).toBe(503);
      expect(coldRes.headers["retry-after"]).toBe("1");
      expect(coldRes.body).toMatchObject(unavailable);
      expect((await verify(warm.secret)).body).toMatchObject({ valid: true, keyId: warm.id });

      await proxy.up();
      expect((await h.req("GET", "/v1/orgs", { token: owner })).status).toBe(200);
      expect((await verify(cold.secret)).body).toMatchObject({ valid: true, keyId: cold.id });
    });

    it("answers 503 within its timeout when the database stops answering on open connections, and recovers", async () => {
      const owner = await h.login();
      const verifier = await verifierKey(h);
      const org = await h.newOrgWithOwner("silent");
      const cold = await mkKey(h, org.token, org.orgId, { name: "cold" });
      // Every open connection, the pool's included, goes silent (a half-open link, a network
      // that drops everything, the old primary of a failover); new connections still work.
      proxy.blackhole();
      const t0 = performance.now();
      const res = await h.req("GET", "/v1/orgs", { token: owner });
      expect(res.status).toBe(503);
      expect(res.headers["retry-after"]).toBe("1");
      expect(res.body).toMatchObject({ code: "UNAVAILABLE" });
      // KEYWARD_DATABASE_TIMEOUT_MS is 1 s here: not the minutes TCP takes to give up.
      expect(performance.now() - t0).toBeLessThan(5_000);
      // Each silent connection is given up after one timeout; new ones answer.
      const answered = async <R extends { status: number }>(send: () => Promise<R>): Promise<R> => {
        for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
          const r = await send();
          if (r.status === 200) return r;
          expect(r.status).toBe(503);
        }
        throw new Error("no answer from a new connection in time");
      };
      await answered(() => h.req("GET", "/v1/orgs", { token: owner }));
      const v = await answered(() => h.req("POST", "/v1/verify", { token: verifier, body: { key: cold.secret } }));
      expect(v.body).toMatchObject({ valid: true, keyId: cold.id });
    });
  },
);
