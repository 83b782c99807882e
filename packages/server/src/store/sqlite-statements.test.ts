import SQLite from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withStatementCache } from "./sqlite-statements.js";

describe("withStatementCache", () => {
  let sqlite: SQLite.Database;
  /** SQL texts better-sqlite3 was asked to prepare, in order. */
  let prepared: string[];

  beforeEach(() => {
    sqlite = new SQLite(":memory:");
    sqlite.exec("create table t (id integer primary key, name text)");
    sqlite.exec("insert into t (name) values ('a'), ('b'), ('c')");
    prepared = [];
    const prepare = sqlite.prepare.bind(sqlite);
    sqlite.prepare = ((text: string) => {
      prepared.push(text);
      return prepare(text);
    }) as typeof sqlite.prepare;
  });
  afterEach(() => sqlite.close());

  it("prepares a query's SQL once, and binds each run's own parameters", async () => {
    const db = new Kysely<{ t: { id: number; name: string } }>({
      dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
    });
    const names = [];
    for (const id of [1, 2, 3, 2]) {
      names.push((await db.selectFrom("t").select("name").where("id", "=", id).executeTakeFirst())?.name);
    }
    await db.updateTable("t").set({ name: "z" }).where("id", "=", 3).execute();
    await db.updateTable("t").set({ name: "y" }).where("id", "=", 1).execute();
    const all = await db.selectFrom("t").select("name").orderBy("id").execute();

    expect(names).toEqual(["a", "b", "c", "b"]);
    expect(all.map((r) => r.name)).toEqual(["y", "b", "z"]);
    // One select by id, one update, one select of all: three texts, each prepared once.
    expect(prepared).toHaveLength(3);
    expect(new Set(prepared).size).toBe(3);
  });

  it("plans a kept statement again after the schema changes", async () => {
    const db = new Kysely<{ t: Record<string, unknown> }>({
      dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
    });
    const first = await db.selectFrom("t").selectAll().where("id", "=", 1).executeTakeFirst();
    await sql`alter table t add column extra text default 'x'`.execute(db);
    const second = await db.selectFrom("t").selectAll().where("id", "=", 1).executeTakeFirst();

    expect(first).toEqual({ id: 1, name: "a" });
    expect(second).toEqual({ id: 1, name: "a", extra: "x" });
  });

  it("keeps the most recently used statements up to its size, and lets the least recent go", () => {
    const cache = withStatementCache(sqlite, 2);
    const q = (id: number) => `select name from t where id = ${id}`;
    const s1 = cache.prepare(q(1));
    const s2 = cache.prepare(q(2));
    cache.prepare(q(1)); // 1 is now more recent than 2
    cache.prepare(q(3)); // past the size: 2 goes

    expect(cache.prepare(q(1))).toBe(s1);
    expect(cache.prepare(q(2))).not.toBe(s2);
    expect(prepared).toEqual([q(1), q(2), q(3), q(2)]);
  });

  it("gives a query a statement of its own while the kept one is still being iterated", () => {
    const cache = withStatementCache(sqlite);
    const text = "select name from t order by id";
    const iterating = cache.prepare(text).iterate([]);
    const first = iterating.next().value;
    // better-sqlite3 refuses to run a statement that is mid-iteration; a second one is used.
    const all = cache.prepare(text).all([]);
    const rest = [...iterating];

    expect(first).toEqual({ name: "a" });
    expect(all).toEqual([{ name: "a" }, { name: "b" }, { name: "c" }]);
    expect(rest).toEqual([{ name: "b" }, { name: "c" }]);
  });
});
