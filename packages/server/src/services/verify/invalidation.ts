import { randomBase62 } from "../../domain/ids.js";
import type { KeyChange, KeyEvents } from "../key-events.js";
import type { Logger } from "pino";
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
    this.off = events.on((c) => this.local(c));
  }

  /** A change made on this node: applied here at once. */
  protected local(change: KeyChange) {
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
}

/**
 * PostgreSQL LISTEN/NOTIFY. A change made here is applied here at once and announced with
 * pg_notify; other nodes apply it when the notification arrives. A dedicated connection
 * LISTENs. Each node also sends itself a heartbeat every second on the same channel:
 * notifications arrive in commit order, so receiving a heartbeat sent at T proves every
 * change committed before T has been applied. `freshAsOf` is that T; if the connection
 * breaks it stops moving and cached entries age out within the freshness bound, and on
 * reconnect the caches are reset, because notifications sent meanwhile are lost.
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

  constructor(
    events: KeyEvents,
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly logger: Logger,
    opts: PgBusOptions = {},
  ) {
    super(events);
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.reconnectMs = opts.reconnectMs ?? 1000;
  }

  /** Opens the LISTEN connection (retrying in the background when it cannot) and starts heartbeats. */
  override async start(): Promise<void> {
    if (this.heartbeat || this.closed) return;
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
    this.heartbeat.unref();
    await this.connect();
  }

  freshAsOf(): number {
    return this.fresh;
  }

  protected override local(change: KeyChange) {
    this.deliver(change);
    this.send({ s: this.schema, n: this.nodeId, c: change });
  }

  private send(msg: Wire) {
    if (this.closed) return;
    this.pool.query("select pg_notify($1, $2)", [NOTIFY_CHANNEL, JSON.stringify(msg)]).catch((err: Error) => {
      this.logger.warn({ err: err.message }, "could not announce a key change to other nodes");
    });
  }

  private beat() {
    // Sent on the listening connection itself: when it is down, freshness stops advancing.
    const client = this.client;
    if (!client) return;
    const msg: Wire = { s: this.schema, n: this.nodeId, hb: Date.now() };
    client.query("select pg_notify($1, $2)", [NOTIFY_CHANNEL, JSON.stringify(msg)]).catch(() => {});
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
      if (msg.n === this.nodeId && msg.hb > this.fresh) this.fresh = msg.hb;
      return;
    }
    if (msg.c && msg.n !== this.nodeId) this.deliver(msg.c);
  }

  private async connect(): Promise<void> {
    const opts = this.pool.options as pg.ClientConfig;
    const client = new pg.Client({
      connectionString: opts.connectionString,
      ...(opts.host ? { host: opts.host } : {}),
    });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = null;
      client.removeAllListeners("notification");
      client.end().catch(() => {});
      if (this.closed) return;
      this.logger.warn({ err: err?.message }, "key-change LISTEN connection lost; reconnecting");
      this.scheduleReconnect();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    client.on("notification", (m) => this.onMessage(m.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (err) {
      client.end().catch(() => {});
      if (this.closed) return;
      this.logger.warn({ err: (err as Error).message }, "cannot LISTEN for key changes; retrying");
      this.scheduleReconnect();
      return;
    }
    this.client = client;
    // Whatever was announced while we were not listening is lost: start clean.
    for (const l of this.listeners) l.reset();
    this.beat();
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
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.reconnect) clearTimeout(this.reconnect);
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => {});
    await super.close();
  }
}
