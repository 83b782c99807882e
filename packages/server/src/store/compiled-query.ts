import type { Compilable, CompiledQuery, Kysely } from "kysely";
import { prepareOnPostgres } from "./pg-prepared.js";

/** Stands for the i-th parameter while the query is compiled: no real value looks like it. */
const placeholder = (i: number) => `\u0000compiled-query-parameter-${i}\u0000`;

/**
 * A query of string parameters, compiled to SQL once and then run with each set of values.
 * Kysely turns its builder into SQL on every run, and for a key loaded on a verify cache miss
 * that cost more CPU than the database's own work (bench/RESULTS.md). `build` takes the
 * values as its arguments (as many as it declares) and must use them as the query's only
 * parameters (constants as literals), each at least once: that is checked when it is
 * compiled. On PostgreSQL it runs as a named prepared statement (see pg-prepared.ts): planned
 * once per connection instead of on every run.
 * It runs through `db()` as it is then, so plugins still see each result (every run shares
 * the compiled query's id: a plugin keeping state by query id would take the runs for one).
 *
 * @example
 * const member = compiledQuery(() => db, (orgId, userId) =>
 *   db.selectFrom("org_members").select("user_id").where("org_id", "=", orgId).where("user_id", "=", userId));
 * const rows = await member(orgId, userId);
 */
export function compiledQuery<R, A extends string[]>(
  // biome-ignore lint/suspicious/noExplicitAny: any database: the query is the caller's
  db: () => Kysely<any>,
  build: (...values: A) => Compilable<R>,
): (...values: A) => Promise<R[]> {
  let compiled: CompiledQuery<R> | null = null;
  /** Per parameter of the compiled SQL: the index of the value it takes. */
  let order: number[] = [];
  return async (...values) => {
    if (!compiled) {
      const names = Array.from({ length: build.length }, (_, i) => placeholder(i));
      const c = build(...(names as A)).compile();
      order = c.parameters.map((p) => names.indexOf(p as string));
      if (names.length === 0 || order.includes(-1) || names.some((_, i) => !order.includes(i))) {
        throw new Error(
          `compiledQuery: the query's parameters must be its ${names.length} value(s), each used (${c.sql})`,
        );
      }
      prepareOnPostgres(c.sql);
      compiled = c;
    }
    const parameters = order.length === 1 ? [values[0]] : order.map((i) => values[i]);
    return (await db().executeQuery<R>({ ...compiled, parameters })).rows;
  };
}
