import { sql } from "kysely";
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

  /**
   * Runs a long statement on one of the node's pooled connections, has the server end that
   * session (pg_terminate_backend from `admin`), and returns the statement's error.
   */
  const endMidStatement = async (admin: pg.Client, tag: string): Promise<Error | null> => {
    const running = sql`select pg_sleep(30), ${sql.lit(tag)} as tag`.execute(h.kw.db.kysely).then(
      () => null,
      (err: Error) => err,
    );
    let pid: number | undefined;
    for (const deadline = Date.now() + 5_000; pid === undefined && Date.now() < deadline; ) {
      const r = await admin.query<{ pid: number }>(
        "select pid from pg_stat_activity where query like $1 and pid <> pg_backend_pid()",
        [`%${tag}%`],
      );
      pid = r.rows[0]?.pid;
    }
    expect(pid).toBeDefined();
    await admin.query("select pg_terminate_backend($1)", [pid]);
    return running;
  };

  const withAdmin = async (fn: (admin: pg.Client) => Promise<void>) => {
    const admin = new pg.Client({ connectionString: inject("pgUrl") });
    await admin.connect();
    try {
      await fn(admin);
    } finally {
      await admin.end();
    }
  };

  it("keeps serving when the server drops an idle pooled connection", async () => {
    const owner = await h.login();
    expect((await h.req("GET", "/v1/orgs", { token: owner })).status).toBe(200);
    const pool = h.kw.db.pgPool as pg.Pool;
    // One of this node's idle connections, ended from the server's side.
    const client = await pool.connect();
    const { pid } = (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0];
    client.release();
    const pooled = pool.totalCount;
    await withAdmin(async (admin) => {
      await admin.query("select pg_terminate_backend($1)", [pid]);
    });
    // pg drops the failed connection from the pool (after telling the pool's 'error' listeners).
    for (const deadline = Date.now() + 5_000; pool.totalCount >= pooled && Date.now() < deadline; )
      await new Promise((r) => setTimeout(r, 20));
    expect(pool.totalCount).toBeLessThan(pooled);
    expect((await h.req("GET", "/v1/orgs", { token: owner })).status).toBe(200);
  });

  it("keeps serving when the server drops a connection in the middle of a query", async () => {
    const owner = await h.login();
    await withAdmin(async (admin) => {
      // The statement fails; the process goes on (pg's 'error' on a checked-out client is heard).
      expect((await endMidStatement(admin, "kw-mid-query"))?.message).toContain("terminating connection");
    });
    expect((await h.req("GET", "/v1/orgs", { token: owner })).status).toBe(200);
  });

  it("does not hand the connection the server ended to the next statement", async () => {
    // The server sends the FATAL error, then closes the connection: a statement run right after
    // the failure used to get the dead connection back from the pool, and fail too ("Connection
    // terminated unexpectedly"), in about half the rounds.
    await withAdmin(async (admin) => {
      for (let round = 0; round < 10; round++) {
        expect((await endMidStatement(admin, `kw-ended-${round}`))?.message).toContain("terminating connection");
        const next = await sql`select 1 as one`.execute(h.kw.db.kysely).then(
          () => "ok",
          (err: Error) => err.message,
        );
        expect(next, `round ${round}`).toBe("ok");
      }
    });
  });
});
