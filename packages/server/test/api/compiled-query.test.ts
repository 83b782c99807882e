import type { KyselyPlugin, PluginTransformResultArgs } from "kysely";
import { sql } from "kysely";
import { afterEach, beforeEach, expect, it } from "vitest";
import { compiledQuery } from "../../src/store/compiled-query.js";
import { Harness, describeEachDialect } from "../harness.js";

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
    let results = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: async (args: PluginTransformResultArgs) => {
        results++;
        return args.result;
      },
    };
    h.kw.db.kysely = db.withPlugin(counting);
    try {
      await byEmail(emails[0]);
      await byEmail(emails[1]);
      expect(results).toBe(2);
    } finally {
      h.kw.db.kysely = db;
    }
  });

  it("refuses a query whose parameters are not exactly its value", async () => {
    const db = h.kw.db.kysely;
    const twoParameters = compiledQuery(
      () => db,
      (email) => db.selectFrom("users").select("id").where("email", "=", email).where("name", "=", "x"),
    );
    await expect(twoParameters("a@example.com")).rejects.toThrow(/exactly one parameter/);
    const constantOnly = compiledQuery(
      () => db,
      () => db.selectFrom("users").select("id").where("email", "=", "fixed@example.com"),
    );
    await expect(constantOnly("a@example.com")).rejects.toThrow(/exactly one parameter/);
  });
});
