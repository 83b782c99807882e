import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { compiledQuery } from "../../src/store/compiled-query.js";
import { PreparingClient } from "../../src/store/pg-prepared.js";
import { Harness, describeEachDialect } from "../harness.js";
import { countStatements } from "./statement-helpers.js";

describeEachDialect("a query compiled once", (dialect) => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.init(dialect);
  });
  afterEach(async () => h.close());

  it("runs with each value its own rows, through the plugins of the database as it is then", async () => {
    const db = h.kw.db.kysely;
    const emails = [(await h.newOrgWithOwner("a")).email, (await h.newOrgWithOwner("b")).email];
    let compiled = 0;
    const byEmail = compiledQuery(
      () => h.kw.db.kysely,
      (email) => {
        compiled++;
        return db.selectFrom("users").select("email").where("email", "=", email).where("name", "!=", sql.lit(""));
      },
    );
    expect(await byEmail(emails[0])).toEqual([{ email: emails[0] }]);
    expect(await byEmail(emails[1])).toEqual([{ email: emails[1] }]);
    expect(await byEmail("nobody@example.com")).toEqual([]);
    expect(compiled).toBe(1);
    // A plugin added later sees every run's result.
    expect(await countStatements(h, async () => [await byEmail(emails[0]), await byEmail(emails[1])])).toBe(2);
  });

  it("takes several values, each used as often as the query needs it", async () => {
    const db = h.kw.db.kysely;
    const owner = await h.newOrgWithOwner("several");
    const member = compiledQuery(
      () => db,
      (orgId, userId) =>
        db
          .selectFrom("org_members")
          .select("user_id")
          .where("org_id", "=", orgId)
          .where("user_id", "=", userId)
          .where((eb) => eb.or([eb("org_id", "=", orgId), eb("user_id", "=", orgId)])),
    );
    const userId = (
      await db.selectFrom("users").select("id").where("email", "=", owner.email).executeTakeFirstOrThrow()
    ).id;
    expect(await member(owner.orgId, userId)).toEqual([{ user_id: userId }]);
    // The values in the other order name no member: each went to its own parameters.
    expect(await member(userId, owner.orgId)).toEqual([]);
  });

  it("refuses a query whose parameters are not exactly its values", async () => {
    const db = h.kw.db.kysely;
    const extraParameter = compiledQuery(
      () => db,
      (email) => db.selectFrom("users").select("id").where("email", "=", email).where("name", "=", "x"),
    );
    await expect(extraParameter("a@example.com")).rejects.toThrow(/parameters must be its 1 value/);
    const valueUnused = compiledQuery(
      () => db,
      (email, _name) => db.selectFrom("users").select("id").where("email", "=", email),
    );
    await expect(valueUnused("a@example.com", "b")).rejects.toThrow(/parameters must be its 2 value/);
    const noValue = compiledQuery(
      () => db,
      () => db.selectFrom("users").select("id").where("email", "=", sql.lit("fixed@example.com")),
    );
    await expect(noValue()).rejects.toThrow(/parameters must be its 0 value/);
  });
});

/** PostgreSQL only: a compiled query is a named prepared statement there. */
(inject("pgAvailable") ? describe : describe.skip)("a query compiled once, on PostgreSQL", () => {
  let h: Harness;
  /** A pool of one connection, so what the test reads of the session is the query's. */
  let pool: pg.Pool;
  // biome-ignore lint/suspicious/noExplicitAny: a scratch table outside the schema's types
  let db: Kysely<any>;
  beforeEach(async () => {
    h = await Harness.init("postgres");
    pool = new pg.Pool({
      connectionString: inject("pgUrl"),
      max: 1,
      Client: PreparingClient,
      options: `-c search_path=${h.kw.db.schema}`,
    });
    db = new Kysely({ dialect: new PostgresDialect({ pool }) });
    await db.schema.createTable("things").addColumn("name", "text").addColumn("size", "integer").execute();
    await db.insertInto("things").values({ name: "a", size: 1 }).execute();
  });
  afterEach(async () => {
    await db?.destroy();
    await h?.close();
  });

  const byName = () =>
    compiledQuery(
      () => db,
      (name) => db.selectFrom("things").selectAll().where("name", "=", name),
    );
  const prepared = async () =>
    (await pool.query<{ name: string; statement: string }>("select name, statement from pg_prepared_statements")).rows;

  it("is parsed once per connection, under a name of its own, and run by that name after", async () => {
    const read = byName();
    expect(await read("a")).toEqual([{ name: "a", size: 1 }]);
    const [statement, ...others] = await prepared();
    expect(others).toEqual([]);
    expect(statement.name).toMatch(/^kw_[0-9a-f]{32}$/);
    expect(statement.statement).toContain('from "things"');
    expect(await read("b")).toEqual([]);
    expect(await read("a")).toEqual([{ name: "a", size: 1 }]);
    expect(await prepared()).toEqual([statement]);
    // Queries Kysely builds each time are not prepared.
    await db.selectFrom("things").select("size").where("name", "=", "a").execute();
    expect(await prepared()).toEqual([statement]);
  });

  it("is prepared again when the table changed under it (another node's migration)", async () => {
    const read = byName();
    expect(await read("a")).toEqual([{ name: "a", size: 1 }]);
    // Another connection, as another node migrating: the prepared `*` no longer matches.
    await h.kw.db.pgPool?.query("alter table things add column colour text default 'red'");
    expect(await read("a")).toEqual([{ name: "a", size: 1, colour: "red" }]);
    expect(await read("a")).toEqual([{ name: "a", size: 1, colour: "red" }]);
    expect((await prepared()).map((p) => p.name)).toEqual([
      expect.stringMatching(/^kw_[0-9a-f]{32}$/),
      expect.stringMatching(/^kw_[0-9a-f]{32}_1$/),
    ]);
  });
});
