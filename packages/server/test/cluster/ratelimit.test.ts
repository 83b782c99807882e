import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Cluster, type Node, setupVerifier } from "./cluster-helpers.js";

/** Two processes sharing Redis never admit more than a key's limit between them. */
(inject("pgAvailable") && inject("redisAvailable") ? describe : describe.skip)(
  "cluster: rate limits shared through Redis",
  () => {
    let cluster: Cluster;
    let a: Node;
    let b: Node;
    let s: Awaited<ReturnType<typeof setupVerifier>>;

    beforeAll(async () => {
      cluster = new Cluster(inject("pgUrl"), { KEYWARD_REDIS_URL: inject("redisUrl") });
      a = await cluster.start();
      b = await cluster.start();
      s = await setupVerifier(a);
    }, 120_000);
    afterAll(async () => cluster?.close(), 30_000);

    it("admits at most `limit` verifications in total across both nodes", async () => {
      const limit = 10;
      const k = await s.mkKey({ name: "limited", ratelimit: { limit, windowSeconds: 60 } });
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? a : b).req("POST", "/v1/verify", { token: s.verifier, body: { key: k.secret } }),
        ),
      );
      const admitted = answers.filter((r) => r.body.valid === true).length;
      const limited = answers.filter((r) => r.body.code === "RATE_LIMITED");
      expect(admitted).toBe(limit);
      expect(limited).toHaveLength(40 - limit);
      expect(Date.parse(limited[0].body.ratelimit.resetAt)).toBeGreaterThan(Date.now());
    });
  },
);
