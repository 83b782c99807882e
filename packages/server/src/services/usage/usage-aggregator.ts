import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../../store/db.js";

interface Pending {
  lastUsedAt: number;
  lastUsedIp: string | null;
  /** Hour start (epoch ms) -> requests. */
  hours: Map<number, number>;
}

export interface UsageBucket {
  /** Start of the UTC hour, ISO. */
  hour: string;
  count: number;
}

const HOUR = 3_600_000;
const hourOf = (ms: number) => ms - (ms % HOUR);

/**
 * Key usage (last use, hourly request counts) gathered in memory on the verification path,
 * which never writes, and flushed to the database in batches: on a timer, and on shutdown.
 * `writes` counts database statements issued, so the benchmark can show verify itself does none.
 */
export class UsageAggregator {
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  readonly stats = { flushes: 0, reads: 0, writes: 0, recorded: 0 };
  /** When each key's last use was last written: a busy key's row is rewritten at most once a minute. */
  private lastWritten = new Map<string, number>();
  private readonly lastUsedEveryMs = 60_000;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly opts: { flushIntervalMs?: number; batchSize?: number } = {},
  ) {}

  /** Starts the periodic flush (unref'd: it never keeps the process alive). */
  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs ?? 10_000);
      this.timer.unref();
    }
    return this;
  }

  /** One use of a key. Synchronous and in memory only. */
  record(keyId: string, ip: string | null, nowMs: number): void {
    this.stats.recorded++;
    let p = this.pending.get(keyId);
    if (!p) {
      p = { lastUsedAt: nowMs, lastUsedIp: ip, hours: new Map() };
      this.pending.set(keyId, p);
    } else if (nowMs >= p.lastUsedAt) {
      p.lastUsedAt = nowMs;
      p.lastUsedIp = ip;
    }
    const h = hourOf(nowMs);
    p.hours.set(h, (p.hours.get(h) ?? 0) + 1);
  }

  /** Not yet flushed usage of one key (merged into usage reads on this node). */
  unflushed(keyId: string): { lastUsedAt: string | null; lastUsedIp: string | null; buckets: UsageBucket[] } {
    const p = this.pending.get(keyId);
    if (!p) return { lastUsedAt: null, lastUsedIp: null, buckets: [] };
    return {
      lastUsedAt: new Date(p.lastUsedAt).toISOString(),
      lastUsedIp: p.lastUsedIp,
      buckets: [...p.hours].map(([h, count]) => ({ hour: new Date(h).toISOString(), count })),
    };
  }

  /**
   * Writes what was gathered (single flight; concurrent callers wait for it). `all` also writes
   * last uses held back by the once-a-minute rule (shutdown does).
   */
  flush(all = false): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.pending.size ? this.flush(all) : undefined));
    if (this.pending.size === 0) return Promise.resolve();
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.write(batch, all)
      .catch((err) => {
        this.logger.error({ err }, "usage flush failed; counts kept for the next attempt");
        this.restore(batch);
      })
      .finally(() => {
        this.flushing = null;
      });
    return this.flushing;
  }

  /** Keeps a key's last use pending (without counts) for a later flush. */
  private keepLastUse(keyId: string, old: Pending) {
    const cur = this.pending.get(keyId);
    if (!cur) this.pending.set(keyId, { lastUsedAt: old.lastUsedAt, lastUsedIp: old.lastUsedIp, hours: new Map() });
    else if (old.lastUsedAt > cur.lastUsedAt) {
      cur.lastUsedAt = old.lastUsedAt;
      cur.lastUsedIp = old.lastUsedIp;
    }
  }

  /** Puts a failed batch back, merged with anything recorded since. */
  private restore(batch: Map<string, Pending>) {
    for (const [keyId, old] of batch) {
      const cur = this.pending.get(keyId);
      if (!cur) {
        this.pending.set(keyId, old);
        continue;
      }
      if (old.lastUsedAt > cur.lastUsedAt) {
        cur.lastUsedAt = old.lastUsedAt;
        cur.lastUsedIp = old.lastUsedIp;
      }
      for (const [h, n] of old.hours) cur.hours.set(h, (cur.hours.get(h) ?? 0) + n);
    }
  }

  private async write(batch: Map<string, Pending>, all: boolean): Promise<void> {
    const ids = [...batch.keys()];
    const size = this.opts.batchSize ?? 100;
    for (let i = 0; i < ids.length; i += size) {
      const chunk = ids.slice(i, i + size);
      await this.db.kysely.transaction().execute(async (trx) => {
        // Keys deleted since their use are skipped (their usage rows went with them).
        this.stats.reads++;
        const existing = (await trx.selectFrom("api_keys").select("id").where("id", "in", chunk).execute()).map(
          (r) => r.id,
        );
        if (existing.length === 0) return;
        // Counts are exact; last use is written at most once a minute per key (kept pending
        // here until then), so a busy key does not cost a row update every flush.
        const due = existing.filter((id) => {
          const p = batch.get(id) as Pending;
          const prev = this.lastWritten.get(id);
          if (!all && prev !== undefined && p.lastUsedAt - prev < this.lastUsedEveryMs) {
            this.keepLastUse(id, p);
            return false;
          }
          if (this.lastWritten.size >= 500_000) this.lastWritten.clear();
          this.lastWritten.set(id, p.lastUsedAt);
          return true;
        });
        if (due.length > 0 && this.db.dialect === "postgres") {
          // One statement per chunk: PostgreSQL joins the VALUES list through the primary key.
          const values = sql.join(
            due.map((id) => {
              const p = batch.get(id) as Pending;
              return sql`(${id}, ${new Date(p.lastUsedAt).toISOString()}, ${p.lastUsedIp})`;
            }),
          );
          this.stats.writes++;
          await sql`update api_keys set last_used_at = v.column2, last_used_ip = v.column3
            from (values ${values}) as v
            where api_keys.id = v.column1 and (api_keys.last_used_at is null or api_keys.last_used_at < v.column2)`.execute(
            trx,
          );
        } else if (due.length > 0) {
          // SQLite plans UPDATE … FROM as a scan of api_keys: one primary-key update per key
          // instead (each a few microseconds; SQLite statements run on the event loop).
          for (const id of due) {
            const p = batch.get(id) as Pending;
            const at = new Date(p.lastUsedAt).toISOString();
            this.stats.writes++;
            await trx
              .updateTable("api_keys")
              .set({ last_used_at: at, last_used_ip: p.lastUsedIp })
              .where("id", "=", id)
              .where((eb) => eb.or([eb("last_used_at", "is", null), eb("last_used_at", "<", at)]))
              .execute();
          }
        }
        const rows: { key_id: string; hour: string; count: number }[] = [];
        for (const id of existing) {
          for (const [h, count] of (batch.get(id) as Pending).hours)
            rows.push({ key_id: id, hour: new Date(h).toISOString(), count });
        }
        if (rows.length === 0) return;
        this.stats.writes++;
        await trx
          .insertInto("key_usage")
          .values(rows)
          .onConflict((oc) =>
            oc.columns(["key_id", "hour"]).doUpdateSet({ count: sql`key_usage.count + excluded.count` }),
          )
          .execute();
      });
      // Let requests run between chunks (SQLite statements block the event loop).
      await new Promise((r) => setImmediate(r));
    }
    this.stats.flushes++;
  }

  /** Stops the periodic flush (tests use it to look at unflushed state). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Stops the timer and flushes what is left (app onClose). */
  async close(): Promise<void> {
    this.stop();
    await this.flush(true);
  }
}
