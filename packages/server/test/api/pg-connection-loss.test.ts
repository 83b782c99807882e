import pg from "pg";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { Harness } from "../harness.js";

/** What PostgreSQL restarting, failing over or timing out idle sessions does to a running node. */
(inject("pgAvailable") ? describe : describe.skip)("PostgreSQL connections lost while idle", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.init("postgres");
  });
  afterEach(async () => h.close());

  it("keeps serving when the server drops an idle pooled connection", async () => {
    const owner = await h.login();
    expect((await h.req("GET", "/v1/orgs", { token: owner })).status).toBe(200);
    const pool = h.kw.db.pgPool as pg.Pool;
    // One of this node's idle connections, ended from the server's side.
    const client = await pool.connect();
    const { pid } = (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0];
    client.release();
    const pooled = pool.totalCount;
    const admin = new pg.Client({ connectionString: inject("pgUrl") });
    await admin.connect();
    try {
      await admin.query("select pg_terminate_backend($1)", [pid]);
    } finally {
      await admin.end();
    }
    // pg drops the failed connection from the pool (after telling the pool's 'error' listeners).
    for (const deadline = Date.now() + 5_000; pool.totalCount >= pooled && Date.now() < deadline; )
      await new Promise((r) => setTimeout(r, 20));
    expect(pool.totalCount).toBeLessThan(pooled);
    expect((await h.req("GET", "/v1/orgs", { token: owner })).status).toBe(200);
  });
});
