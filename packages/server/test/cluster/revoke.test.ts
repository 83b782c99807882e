import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Cluster, type Node, setupVerifier } from "./cluster-helpers.js";

/**
 * Two Keyward processes on one PostgreSQL: a change made through one node reaches the
 * other's verification cache through LISTEN/NOTIFY within a second.
 */
(inject("pgAvailable") ? describe : describe.skip)("cluster: revocation reaches every node", () => {
  let cluster: Cluster;
  let a: Node;
  let b: Node;
  let s: Awaited<ReturnType<typeof setupVerifier>>;

  beforeAll(async () => {
    cluster = new Cluster(inject("pgUrl"));
    a = await cluster.start();
    b = await cluster.start();
    s = await setupVerifier(a);
  }, 120_000);
  afterAll(async () => cluster?.close(), 30_000);

  /** Polls `node` until the key's verdict is `code`; returns how long that took (ms). */
  async function timeUntil(node: Node, secret: string, code: string, limitMs = 3000): Promise<number> {
    const t0 = performance.now();
    for (;;) {
      const res = await node.req("POST", "/v1/verify", { token: s.verifier, body: { key: secret } });
      if (res.body.code === code) return performance.now() - t0;
      if (performance.now() - t0 > limitMs) throw new Error(`still ${JSON.stringify(res.body)} after ${limitMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("a key disabled on one node is rejected by the other within 1 s", async () => {
    const k = await s.mkKey({ name: "victim" });
    // Warm both caches.
    for (const n of [a, b])
      expect((await n.req("POST", "/v1/verify", { token: s.verifier, body: { key: k.secret } })).body.valid).toBe(true);
    const res = await a.req("POST", `/v1/api-keys/${k.id}/disable`, { token: s.token });
    expect(res.status).toBe(200);
    expect(await timeUntil(b, k.secret, "DISABLED")).toBeLessThan(1000);
  });

  it("a key deleted on the other node, and a regenerated secret, too", async () => {
    const k = await s.mkKey({ name: "second" });
    for (const n of [a, b])
      expect((await n.req("POST", "/v1/verify", { token: s.verifier, body: { key: k.secret } })).body.valid).toBe(true);
    const regen = await b.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: s.token, body: {} });
    expect(regen.status).toBe(200);
    expect(await timeUntil(a, k.secret, "NOT_FOUND")).toBeLessThan(1000);
    expect(
      (await a.req("POST", "/v1/verify", { token: s.verifier, body: { key: regen.body.secret } })).body.valid,
    ).toBe(true);
    expect((await b.req("DELETE", `/v1/api-keys/${k.id}`, { token: s.token })).status).toBe(204);
    expect(await timeUntil(a, regen.body.secret, "NOT_FOUND")).toBeLessThan(1000);
  });

  it("tokens exchanged on one node verify on the other, and die with their key", async () => {
    const k = await s.mkKey({ name: "tokens" });
    const tok = await a.req("POST", "/v1/token", {
      body: { grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: k.secret },
    });
    expect(tok.status).toBe(200);
    const t = tok.body.access_token as string;
    expect((await b.req("POST", "/v1/verify", { token: s.verifier, body: { key: t } })).body.valid).toBe(true);
    await a.req("POST", `/v1/api-keys/${k.id}/disable`, { token: s.token });
    expect(await timeUntil(b, t, "DISABLED")).toBeLessThan(1000);
  });
});
