import pg from "pg";
import { afterEach, describe, expect, inject, it } from "vitest";
import { Harness } from "../harness.js";
import { pgProxy } from "../pg-proxy.js";
import { mkKey } from "./key-helpers.js";

/**
 * A change whose COMMIT reached PostgreSQL but whose answer was lost: the request fails, and
 * the node that made it never emitted the change after its commit. It still learns it, as
 * every other node does, from the notification sent inside the transaction.
 */
(inject("pgAvailable") ? describe : describe.skip)("a change whose commit answer was lost", () => {
  let h: Harness | undefined;
  let proxy: Awaited<ReturnType<typeof pgProxy>> | undefined;
  afterEach(async () => {
    await h?.close();
    await proxy?.close();
  });

  /** A node whose connections go through a proxy that can cut one after passing on its commit. */
  const start = async () => {
    proxy = await pgProxy(inject("pgUrl"));
    const node = await Harness.init("postgres", { KEYWARD_DATABASE_URL: proxy.url });
    h = node;
    const token = await node.login();
    const key = await mkKey(node, token, node.operatorOrgId, { name: "victim" });
    const verify = async () => {
      const r = node.kw.services.verify.verify({ key: key.secret });
      return (r instanceof Promise ? await r : r) as { valid: boolean; code?: string };
    };
    expect(await verify()).toMatchObject({ valid: true }); // cached
    const stored = async () => {
      const c = new pg.Client({ connectionString: inject("pgUrl") });
      await c.connect();
      try {
        const r = await c.query(`select status from ${node.kw.db.schema}.api_keys where id = $1`, [key.id]);
        return r.rows[0]?.status ?? "gone";
      } finally {
        await c.end();
      }
    };
    return { node, token, key, verify, stored };
  };

  /** Polls until `probe` holds; fails after `ms`. */
  const within = async (ms: number, probe: () => Promise<boolean>) => {
    for (const deadline = Date.now() + ms; !(await probe()); ) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  it("takes effect on the node that made it: a disable", async () => {
    const { node, token, key, verify, stored } = await start();
    proxy?.loseCommitReply();
    const res = await node.req("POST", `/v1/api-keys/${key.id}/disable`, { token });
    expect(res.status).toBeGreaterThanOrEqual(500); // the node could not tell…
    expect(await stored()).toBe("disabled"); // …but it committed
    // Retried, it is a no-op (already disabled) that changes nothing either.
    expect((await node.req("POST", `/v1/api-keys/${key.id}/disable`, { token })).body.status).toBe("disabled");
    // Within the notification's delay, not the cache's 10-minute age.
    await within(2_000, async () => (await verify()).code === "DISABLED");
  });

  it("takes effect on the node that made it: a delete", async () => {
    const { node, token, key, verify, stored } = await start();
    proxy?.loseCommitReply();
    expect((await node.req("DELETE", `/v1/api-keys/${key.id}`, { token })).status).toBeGreaterThanOrEqual(500);
    expect(await stored()).toBe("gone");
    await within(2_000, async () => (await verify()).code === "NOT_FOUND");
  });
});
