import { createHash } from "node:crypto";
import pg from "pg";

/** The SQL texts run as named prepared statements, with their names. */
const named = new Map<string, string>();

/**
 * Marks a SQL text to be run as a named prepared statement on PostgreSQL: each connection
 * parses and plans it once, then only binds and executes it. For the key loader's statement
 * PostgreSQL spent about 0.17 ms parsing and planning and 0.05 ms executing (bench/RESULTS.md).
 * Only for statements run again and again with the same text ({@link compiledQuery}'s): every
 * name stays prepared on every connection for the connection's life. The name is the text's
 * hash, so one text has one name in every pool of the process.
 */
export function prepareOnPostgres(sql: string): void {
  if (!named.has(sql)) named.set(sql, `kw_${createHash("sha256").update(sql).digest("hex").slice(0, 32)}`);
}

/**
 * How long a pool's connections wait for PostgreSQL's answer to a statement (0: for ever). One
 * object per pool, passed to its clients through the pool's config (`keywardLimits`), so it can
 * be lifted while migrations run (see migrate in db.ts).
 */
export interface PgLimits {
  readTimeoutMs: number;
}

/** pg's error when a statement's answer did not come within `query_timeout`. */
export const READ_TIMEOUT = "Query read timeout";

/** PostgreSQL: "cached plan must not change result type" (a table's columns changed under it). */
const STALE_PLAN = "0A000";

/**
 * A pg client that runs the texts marked by {@link prepareOnPostgres} as named prepared
 * statements (the pool's `Client`). Kysely calls `query(text, values)`; every other call
 * passes through as it is.
 *
 * A statement prepared before another node's migration changed a table it reads fails with
 * "cached plan must not change result type" on every run after, on this connection. Then
 * the statement is prepared again under a new name on this connection, and the query retried.
 *
 * Being the pool's client, it also keeps a broken connection out of the pool: one the server
 * ended (a FATAL error) or one whose statement got no answer within the pool's
 * {@link PgLimits} is marked unusable, so the pool drops it on release.
 */
export class PreparingClient extends pg.Client {
  /** Names given anew on this connection, by text (after a stale plan), and how many so far. */
  private renamed: Map<string, string> | null = null;
  private renames = 0;
  private readonly limits: PgLimits | null;

  constructor(config?: string | (pg.ClientConfig & { keywardLimits?: PgLimits })) {
    super(config);
    this.limits = (typeof config === "object" && config.keywardLimits) || null;
    // A FATAL error (the server terminating the session: pg_terminate_backend, a shutdown, an
    // idle timeout) fails the statement running, and the server closes the connection just
    // after. pg marks the client unusable only once the close arrives; released before that,
    // the pool kept the dead connection and handed it to the next request, which then failed
    // with "Connection terminated unexpectedly". Marked here, before the statement's failure
    // is delivered (this listener runs first), the pool drops it on release (pg-pool reads the
    // same flag). No work on a healthy connection.
    this.connection.on("errorMessage", (msg: { severity?: string }) => {
      if (msg.severity === "FATAL" || msg.severity === "PANIC")
        (this as unknown as { _queryable: boolean })._queryable = false;
    });
  }

  // biome-ignore lint/suspicious/noExplicitAny: pg's query has many overloads; only one is changed
  override query(...args: any[]): any {
    const [text, values] = args;
    const kysely = args.length === 2 && typeof text === "string" && Array.isArray(values);
    if (!kysely) return (super.query as (...a: unknown[]) => unknown)(...args);
    const timeout = this.limits?.readTimeoutMs || undefined;
    const name = named.get(text);
    if (!name) return this.bounded(this.send({ text, values, query_timeout: timeout }));
    return this.bounded(this.runNamed(text, values, this.renamed?.get(text) ?? name, timeout));
  }

  private async runNamed(text: string, values: unknown[], name: string, timeout?: number): Promise<pg.QueryResult> {
    try {
      return await this.send({ name, text, values, query_timeout: timeout });
    } catch (err) {
      if ((err as { code?: string }).code !== STALE_PLAN) throw err;
      this.renamed ??= new Map();
      const fresh = `${named.get(text)}_${++this.renames}`;
      this.renamed.set(text, fresh);
      return this.send({ name: fresh, text, values, query_timeout: timeout });
    }
  }

  /** pg's query with a config object; `query_timeout` (absent from pg's types) bounds the wait for its answer. */
  private send(config: pg.QueryConfig & { query_timeout?: number }): Promise<pg.QueryResult> {
    return (super.query as unknown as (c: typeof config) => Promise<pg.QueryResult>).call(this, config);
  }

  /**
   * A statement whose answer did not come in time (a half-open connection, a network that
   * drops everything, the old primary of a failover) fails with {@link READ_TIMEOUT}; pg then
   * leaves the connection waiting for that answer, so every later statement on it would wait
   * too. It is closed instead, and marked so the pool drops it; the next statement gets a new
   * connection (or a connect timeout while the database stays out of reach).
   */
  private bounded(q: Promise<pg.QueryResult>): Promise<pg.QueryResult> {
    return q.catch((err: Error) => {
      if (err?.message === READ_TIMEOUT) {
        (this as unknown as { _queryable: boolean })._queryable = false;
        (this.connection as unknown as { stream: { destroy(): void } }).stream.destroy();
      }
      throw err;
    });
  }
}
