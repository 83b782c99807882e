import type { Compilable, CompiledQuery, Kysely } from "kysely";
import { prepareOnPostgres } from "./pg-prepared.js";

/** Stands for the parameter while the query is compiled: no real value looks like it. */
const PLACEHOLDER = "\u0000compiled-query-parameter\u0000";

/**
 * A query of one parameter, compiled to SQL once and then run with each value. Kysely turns
 * its builder into SQL on every run, and for a key loaded on a verify cache miss that cost more
 * CPU than the database's own work (bench/RESULTS.md). `build` must use its argument as the
 * query's only parameter (constants as literals): that is checked when it is compiled. On
 * PostgreSQL it runs as a named prepared statement (see pg-prepared.ts): planned once per
 * connection instead of on every run.
 * It runs through `db()` as it is then, so plugins still see each result (every run shares
 * the compiled query's id: a plugin keeping state by query id would take the runs for one).
 */
export function compiledQuery<R>(
  // biome-ignore lint/suspicious/noExplicitAny: any database: the query is the caller's
  db: () => Kysely<any>,
  build: (value: string) => Compilable<R>,
): (value: string) => Promise<R[]> {
  let compiled: CompiledQuery<R> | null = null;
  return async (value) => {
    if (!compiled) {
      const c = build(PLACEHOLDER).compile();
      if (c.parameters.length !== 1 || c.parameters[0] !== PLACEHOLDER) {
        throw new Error(`compiledQuery: the query must have exactly one parameter, its value (${c.sql})`);
      }
      prepareOnPostgres(c.sql);
      compiled = c;
    }
    return (await db().executeQuery<R>({ ...compiled, parameters: [value] })).rows;
  };
}
