import type { KyselyPlugin } from "kysely";
import type { Harness } from "../harness.js";

/**
 * Runs `fn` with a plugin on the app's database that counts the statements it runs (by their
 * results, so a query compiled once counts on every run), and gives that count.
 */
export async function countStatements(h: Harness, fn: () => Promise<unknown>): Promise<number> {
  let statements = 0;
  const counting: KyselyPlugin = {
    transformQuery: (args) => args.node,
    transformResult: async (args) => {
      statements++;
      return args.result;
    },
  };
  const db = h.kw.db.kysely;
  h.kw.db.kysely = db.withPlugin(counting);
  try {
    await fn();
  } finally {
    h.kw.db.kysely = db;
  }
  return statements;
}
