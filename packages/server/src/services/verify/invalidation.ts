import { randomBase62 } from "../../domain/ids.js";
import type { KeyChange, KeyEvents } from "../key-events.js";
import type { Logger } from "pino";
import { sql } from "kysely";
import pg from "pg";

/** What a cache hears from the bus. */
export interface InvalidationListener {
  /** A change that may alter how some keys resolve: drop what it touches. */
  change(change: KeyChange): void;
  /** Changes may have been missed (the bus reconnected): drop everything. */
  reset(): void;
}

/**
 * Carries key changes to every cache that may hold an affected key. Two implementations
 * with one contract (test/api/verify-invalidation.test.ts runs both): in-process for a
 * single node, PostgreSQL LISTEN/NOTIFY for nodes sharing a database.
 */
export interface InvalidationBus {
  readonly kind: "local" | "postgres";
  subscribe(listener: InvalidationListener): () => void;
  /** Begins receiving changes from other nodes (no-op for the in-process bus). */
  start(): Promise<void>;
  /**
   * An instant (epoch ms) such that every change committed before it has been delivered.
   * A cached entry may be served while `now - max(loadedAt, freshAsOf()) <= bound`.
   */
  freshAsOf(): number;
  close(): Promise<void>;
}

abstract class BaseBus implements InvalidationBus {
  abstract readonly kind: "local" | "postgres";
  protected listeners = new Set<InvalidationListener>();
  private off: () => void;

  constructor(events: KeyEvents) {
    this.off = events.on((c, announced) => this.local(c, announced));
  }

  /** A change made on this node: applied here at once. `announced`: its transaction announced it. */
  protected local(change: KeyChange, _announced: boolean) {
    this.deliver(change);
  }

  protected deliver(change: KeyChange) {
    for (const l of this.listeners) l.change(change);
  }

  subscribe(listener: InvalidationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  abstract freshAsOf(): number;

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.off();
    this.listeners.clear();
  }
}

/** One process: every change is made here and delivered synchronously, so nothing is ever stale. */
export class LocalInvalidationBus extends BaseBus {
  readonly kind = "local" as const;

  freshAsOf(): number {
    return Number.POSITIVE_INFINITY;
  }
}

export const NOTIFY_CHANNEL = "keyward_key_changes";

interface Wire {
  /** Database schema the sender works in: nodes of other deployments sharing the server ignore it. */
  s: string;
  /** Sending node. */
  n: string;
  /** A change, or a heartbeat (the sender's clock, ms). */
  c?: KeyChange;
  hb?: number;
}

export interface PgBusOptions {
  /** How often a node sends itself a heartbeat through the channel. */
  heartbeatMs?: number;
  /** Wait before reconnecting a lost LISTEN connection. */
  reconnectMs?: number;
  /**
   * A heartbeat not heard back within this long means the connection is dead, even if its
   * socket looks open (half-open): it is dropped, reconnected and the caches reset.
   */
  stallMs?: number;
}

/** Something to send on the node's connection, in order. */
type Outgoing = { kind: "change"; msg: Wire; tries: number } | { kind: "beat"; msg: Wire };

/** A change announcement that failed this many times on fresh connections is given up (and logged). */
const MAX_TRIES = 10;

/**
 * PostgreSQL LISTEN/NOTIFY. A change made here is applied here at once; other nodes apply it
 * when its notification arrives.
 *
 * Every change is announced inside its own transaction (`KeyEvents.announce`, the announcer
 * this bus registers): a pg_notify that PostgreSQL delivers if and only if the transaction
 * commits, in commit order, so a node that dies right after committing cannot leave the
 * others serving the old state.
 *
 * One dedicated connection per node (never the shared pool, whose queue could hold a message
 * back for as long as the pool is busy) LISTENs and also sends, in FIFO order, this node's
 * heartbeats: every second one stamped with the time it was queued. Notifications arrive in
 * commit order, so hearing its own heartbeat stamped T back proves this node has received every
 * change committed anywhere before T: `freshAsOf` is that T. A heartbeat not heard back within
 * `stallMs` (a dead or half-open connection) drops the connection; while it is down freshness
 * stops advancing and cached entries age out of the freshness bound, and on reconnect the
 * caches are reset, because notifications sent meanwhile are lost.
 *
 * A change emitted without having been announced in its transaction (a bug in the code that
 * made it, counted in `stats.unannounced` and logged) is sent on that connection after the
 * fact, queued with the heartbeats; one that fails stays queued and is sent again first on the
 * next connection.
 */
export class PgInvalidationBus extends BaseBus {
  readonly kind = "postgres" as const;
  private readonly nodeId = randomBase62(12);
  private client: pg.Client | null = null;
  private fresh = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private reconnect: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly heartbeatMs: number;
  private readonly reconnectMs: number;
  private readonly stallMs: number;
  /** What is still to be sent, oldest first. Changes survive a lost connection; heartbeats do not. */
  private outbox: Outgoing[] = [];
  /** The connection a send loop is running for, if any. */
  private pumping: pg.Client | null = null;
  /** Stamp of the heartbeat queued and not yet heard back. */
  private beatPending: number | null = null;
  /** Stops announcing changes inside their transactions (see the constructor). */
  private readonly offAnnounce: () => void;
  /**
   * Per change (its JSON), this node's emits after their commit less its own notifications of
   * it heard since (as of `at`, epoch ms). A notification is not delivered again while emits
   * outnumber them: those emits delivered it already (see onMessage).
   */
  private readonly ownBalance = new Map<string, { n: number; at: number }>();
  /** Changes emitted without an announce in their transaction (sent after the fact), and the last of them. */
  readonly stats = { unannounced: 0, lastUnannounced: null as KeyChange | null };

  constructor(
    events: KeyEvents,
    private readonly pool: pg.Pool,
    /** The schema configured (none: ""); replaced by the one the pool's connections resolve to. */
    private schema: string,
    private readonly logger: Logger,
    opts: PgBusOptions = {},
  ) {
    super(events);
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.reconnectMs = opts.reconnectMs ?? 1000;
    this.stallMs = opts.stallMs ?? 3000;
    // Inside the change's own transaction: delivered if and only if it commits.
    this.offAnnounce = events.announceWith(async (trx, change) => {
      // The schema as the transaction itself resolves it (see connect()).
      await sql`select pg_notify(${NOTIFY_CHANNEL}, json_build_object(
        's', current_schema(), 'n', ${this.nodeId}::text, 'c', ${JSON.stringify(change)}::json)::text)`.execute(trx);
    });
  }

  /** Opens the LISTEN connection (retrying in the background when it cannot) and starts heartbeats. */
  override async start(): Promise<void> {
    if (this.heartbeat || this.closed) return;
    this.heartbeat = setInterval(() => this.tick(), this.heartbeatMs);
    this.heartbeat.unref();
    await this.connect();
  }

  freshAsOf(): number {
    return this.fresh;
  }

  protected override local(change: KeyChange, announced: boolean) {
    this.deliver(change);
    this.countOwn(JSON.stringify(change), +1);
    if (announced || this.closed) return;
    this.stats.unannounced++;
    this.stats.lastUnannounced = change;
    this.logger.warn({ change }, "a key change was not announced in its transaction; sending it after the commit");
    this.outbox.push({ kind: "change", msg: { s: this.schema, n: this.nodeId, c: change }, tries: 0 });
    if (this.client) void this.pump(this.client);
  }

  /** Sends the outbox in order on `client` until it is empty or `client` is no longer current. */
  private async pump(client: pg.Client) {
    if (this.pumping === client) return;
    this.pumping = client;
    try {
      while (this.client === client && this.outbox.length > 0) {
        const item = this.outbox[0];
        try {
          await client.query("select pg_notify($1, $2)", [NOTIFY_CHANNEL, JSON.stringify(item.msg)]);
        } catch (err) {
          if (item.kind === "change" && ++item.tries >= MAX_TRIES) {
            this.remove(item);
            this.logger.error(
              { err: (err as Error).message, change: item.msg.c },
              "could not announce a key change to other nodes; giving up (they reload it within the cache max age)",
            );
          }
          // Resent first on the next connection.
          this.drop(client, err as Error);
          return;
        }
        this.remove(item);
      }
    } finally {
      if (this.pumping === client) this.pumping = null;
    }
  }

  private remove(item: Outgoing) {
    const i = this.outbox.indexOf(item);
    if (i >= 0) this.outbox.splice(i, 1);
  }

  /** Every heartbeatMs: drops a connection whose last heartbeat has not come back, else queues the next. */
  private tick() {
    const client = this.client;
    if (!client) return;
    if (this.beatPending !== null) {
      if (Date.now() - this.beatPending > this.stallMs) {
        this.drop(client, new Error(`heartbeat not heard back within ${this.stallMs} ms`));
      }
      return;
    }
    const hb = Date.now();
    this.beatPending = hb;
    this.outbox.push({ kind: "beat", msg: { s: this.schema, n: this.nodeId, hb } });
    void this.pump(client);
  }

  private onMessage(payload: string | undefined) {
    if (!payload) return;
    let msg: Wire;
    try {
      msg = JSON.parse(payload) as Wire;
    } catch {
      return;
    }
    if (msg.s !== this.schema) return;
    if (msg.hb !== undefined) {
      if (msg.n !== this.nodeId) return;
      if (msg.hb > this.fresh) this.fresh = msg.hb;
      if (msg.hb === this.beatPending) this.beatPending = null;
      return;
    }
    if (!msg.c) return;
    // Its own changes too, unless already delivered after their commit: when the commit's
    // answer is lost the change committed, the request failed, and nothing was emitted here.
    if (msg.n === this.nodeId && this.countOwn(JSON.stringify(msg.c), -1) >= 0) return;
    this.deliver(msg.c);
  }

  /**
   * Adds `by` to a change's balance (an emit +1, an own notification -1) and answers the new
   * one. Notifications come in commit order, and each invalidation reloads from the database,
   * so a skipped one is always covered by an emit after a later or the same commit. A balance
   * untouched for 10 s starts again from 0 (a notification lost with its connection).
   */
  private countOwn(change: string, by: 1 | -1): number {
    const now = Date.now();
    if (this.ownBalance.size >= 1000)
      for (const [c, b] of this.ownBalance) if (now - b.at > 10_000) this.ownBalance.delete(c);
    const b = this.ownBalance.get(change);
    const n = (b && now - b.at <= 10_000 ? b.n : 0) + by;
    if (n === 0) this.ownBalance.delete(change);
    else this.ownBalance.set(change, { n, at: now });
    return n;
  }

  /** Gives up `client` (if still current) and reconnects. Queued changes are kept for the next one. */
  private drop(client: pg.Client, err?: Error) {
    if (this.client !== client) return;
    this.client = null;
    this.beatPending = null;
    this.outbox = this.outbox.filter((i) => i.kind === "change");
    client.removeAllListeners("notification");
    // With a query outstanding (a hung connection), end() destroys the socket rather than wait.
    client.end().catch(() => {});
    if (this.closed) return;
    this.logger.warn({ err: err?.message }, "key-change LISTEN connection lost; reconnecting");
    this.scheduleReconnect();
  }

  private async connect(): Promise<void> {
    const opts = this.pool.options as pg.ClientConfig;
    const timeout = Math.max(this.stallMs, 5000);
    const client = new pg.Client({
      connectionString: opts.connectionString,
      ...(opts.host ? { host: opts.host } : {}),
      ...(opts.options ? { options: opts.options } : {}),
      keepAlive: true,
      // Backstops for a connection that hangs before heartbeats can tell (connect, LISTEN).
      connectionTimeoutMillis: timeout,
      query_timeout: timeout,
    });
    // Stays attached after a drop: an error on a given-up client must not go unheard.
    client.on("error", (err) => this.drop(client, err));
    client.on("end", () => this.drop(client));
    client.on("notification", (m) => this.onMessage(m.payload));
    try {
      await client.connect();
      // Nodes tell their deployment's messages by schema name, as PostgreSQL resolves it (this
      // connection has the pool's search path): a node configured with no schema and one
      // configured with "public" (the same tables) must not ignore each other.
      const resolved = await client.query<{ s: string | null }>("select current_schema() as s");
      this.schema = resolved.rows[0]?.s ?? this.schema;
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (err) {
      client.end().catch(() => {});
      if (this.closed) return;
      this.logger.warn({ err: (err as Error).message }, "cannot LISTEN for key changes; retrying");
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      client.end().catch(() => {});
      return;
    }
    this.client = client;
    // Whatever was announced while we were not listening is lost: start clean.
    for (const l of this.listeners) l.reset();
    this.tick();
    void this.pump(client);
  }

  private scheduleReconnect() {
    if (this.reconnect || this.closed) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = null;
      void this.connect();
    }, this.reconnectMs);
    this.reconnect.unref();
  }

  /** Test hook: drops the LISTEN connection as a network failure would. */
  simulateDisconnect() {
    const c = this.client;
    if (c) c.emit("error", new Error("simulated disconnect"));
  }

  override async close(): Promise<void> {
    // Give change announcements still queued a moment to go out.
    const deadline = Date.now() + 2000;
    while (this.client && this.outbox.some((i) => i.kind === "change") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.closed = true;
    this.offAnnounce();
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.reconnect) clearTimeout(this.reconnect);
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => {});
    await super.close();
  }
}
