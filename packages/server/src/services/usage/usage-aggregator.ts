import type { Logger } from "pino";
import type { Db } from "../../store/db.js";
import { type UsageWriter, createUsageWriter, newChunk } from "./usage-writer.js";

/**
 * One key's usage gathered since the last flush. Nearly always all of it falls in one hour,
 * so that hour's count is kept inline: a first use costs one small object, later uses none.
 */
interface Pending {
  /** The pending map this tally is in (a flush swaps the map: older tallies are no longer current). */
  batch: Map<string, Pending>;
  lastUsedAt: number;
  lastUsedIp: string | null;
  /** Start (epoch ms) of the hour `count` is for. */
  hour: number;
  count: number;
  /** Counts of other hours (a flush period spanning an hour boundary), hour start -> requests. */
  others: Map<number, number> | null;
}

/**
 * A key's tally as {@link UsageAggregator.record} returned it. A caller that keeps it (the
 * verify cache keeps it on the key's entry) passes it back on the key's next use, which then
 * skips the lookup in the map of every key used since the last flush.
 */
export type UsageTally = Readonly<Pending>;

export interface UsageBucket {
  /** Start of the UTC hour, ISO. */
  hour: string;
  count: number;
}

const HOUR = 3_600_000;
/** Keys handled between two turns of the event loop while a flush prepares its chunks. */
const SLICE = 250;
const yieldToRequests = () => new Promise<void>((resolve) => setImmediate(resolve));
const hourOf = (ms: number) => ms - (ms % HOUR);

function addCount(p: Pending, hour: number, n: number) {
  if (p.count === 0 || p.hour === hour) {
    p.hour = hour;
    p.count += n;
    return;
  }
  p.others ??= new Map();
  p.others.set(hour, (p.others.get(hour) ?? 0) + n);
}

function hoursOf(p: Pending): [hour: number, count: number][] {
  const out: [number, number][] = p.count > 0 ? [[p.hour, p.count]] : [];
  if (p.others) out.push(...p.others);
  return out;
}

/**
 * Key usage (last use, hourly request counts) gathered in memory on the verification path,
 * which never writes, and flushed to the database in batches: on a timer, and on shutdown.
 * `stats` counts the flush's database statements, so the benchmark can show verify itself
 * does none.
 */
export class UsageAggregator {
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly writer: UsageWriter;
  readonly stats = { flushes: 0, reads: 0, writes: 0, recorded: 0 };
  /** When each key's last use was last written: a busy key's row is rewritten at most once a minute. */
  private lastWritten = new Map<string, number>();
  private readonly lastUsedEveryMs = 60_000;

  constructor(
    db: Db,
    private readonly logger: Logger,
    private readonly opts: { flushIntervalMs?: number; transactionRows?: number } = {},
  ) {
    this.writer = createUsageWriter(db, { transactionRows: opts.transactionRows });
  }

  /** Whether flush statements go through the query builder (the benchmark counts those apart). */
  get flushesViaQueryBuilder(): boolean {
    return this.writer.viaQueryBuilder;
  }

  /** Starts the periodic flush (unref'd: it never keeps the process alive). */
  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs ?? 10_000);
      this.timer.unref();
    }
    return this;
  }

  /**
   * One use of a key. Synchronous and in memory only. `last` is what the previous call for
   * the same key returned, if the caller kept it: while it is still the current tally (no
   * flush since), no lookup is needed.
   */
  record(keyId: string, ip: string | null, nowMs: number, last?: UsageTally | null): UsageTally {
    this.stats.recorded++;
    const hour = hourOf(nowMs);
    const p = last?.batch === this.pending ? (last as Pending) : this.pending.get(keyId);
    if (!p) {
      const fresh: Pending = { batch: this.pending, lastUsedAt: nowMs, lastUsedIp: ip, hour, count: 1, others: null };
      this.pending.set(keyId, fresh);
      return fresh;
    }
    if (nowMs >= p.lastUsedAt) {
      p.lastUsedAt = nowMs;
      p.lastUsedIp = ip;
    }
    if (p.hour === hour) p.count++;
    else addCount(p, hour, 1);
    return p;
  }

  /** Not yet flushed usage of one key (merged into usage reads on this node). */
  unflushed(keyId: string): { lastUsedAt: string | null; lastUsedIp: string | null; buckets: UsageBucket[] } {
    const p = this.pending.get(keyId);
    if (!p) return { lastUsedAt: null, lastUsedIp: null, buckets: [] };
    return {
      lastUsedAt: new Date(p.lastUsedAt).toISOString(),
      lastUsedIp: p.lastUsedIp,
      buckets: hoursOf(p).map(([h, count]) => ({ hour: new Date(h).toISOString(), count })),
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
    if (!cur)
      this.pending.set(keyId, {
        batch: this.pending,
        lastUsedAt: old.lastUsedAt,
        lastUsedIp: old.lastUsedIp,
        hour: old.hour,
        count: 0,
        others: null,
      });
    else if (old.lastUsedAt > cur.lastUsedAt) {
      cur.lastUsedAt = old.lastUsedAt;
      cur.lastUsedIp = old.lastUsedIp;
    }
  }

  /** Puts what a failed flush did not write back, merged with anything recorded since. */
  private restore(unwritten: Map<string, Pending>) {
    for (const [keyId, old] of unwritten) {
      const cur = this.pending.get(keyId);
      if (!cur) {
        old.batch = this.pending;
        this.pending.set(keyId, old);
        continue;
      }
      if (old.lastUsedAt > cur.lastUsedAt) {
        cur.lastUsedAt = old.lastUsedAt;
        cur.lastUsedIp = old.lastUsedIp;
      }
      for (const [h, n] of hoursOf(old)) addCount(cur, h, n);
    }
    // A tally kept on a cached key still points at this map: emptied, it holds nothing.
    unwritten.clear();
  }

  /**
   * Hands `batch` to the writer part by part, and once it is written takes the keys out of
   * `batch` (a failure leaves the unwritten ones in it, for {@link restore}). Requests are let
   * in every {@link SLICE} keys while the parts are built and the keys put away: a whole
   * flush at once held the event loop for several milliseconds.
   */
  private async write(batch: Map<string, Pending>, all: boolean): Promise<void> {
    const flush = this.writer.begin();
    /** Every key of the batch, its tally, whether its last use is written now, and its entry in the parts (-1: none). */
    const keys: string[] = [];
    const tallies: Pending[] = [];
    const due: boolean[] = [];
    const entry: number[] = [];
    let entries = 0;
    let part = newChunk();
    for (const [keyId, p] of batch) {
      // Counts are exact; last use is written at most once a minute per key (kept pending
      // until then), so a busy key does not cost a row update every flush.
      const prev = this.lastWritten.get(keyId);
      const isDue = all || prev === undefined || p.lastUsedAt - prev >= this.lastUsedEveryMs;
      keys.push(keyId);
      tallies.push(p);
      due.push(isDue);
      if (isDue || p.count > 0 || p.others) {
        entry.push(entries++);
        const k = part.keyIds.push(keyId) - 1;
        part.lastUsedAt.push(isDue ? p.lastUsedAt : -1);
        part.lastUsedIp.push(p.lastUsedIp);
        for (const [hour, count] of hoursOf(p)) part.counts.push(k, hour, count);
        if (part.keyIds.length === this.writer.partSize) {
          flush.add(part);
          part = newChunk();
        }
      } else entry.push(-1);
      if (keys.length % SLICE === 0) await yieldToRequests();
    }
    if (part.keyIds.length > 0) flush.add(part);
    const failed = entries > 0 ? await flush.commit(this.stats) : null;
    if (this.lastWritten.size >= 500_000) this.lastWritten.clear();
    for (let n = 0; n < keys.length; n++) {
      if (failed && entry[n] >= 0 && failed.stored[entry[n]] !== 1) continue;
      if (due[n]) this.lastWritten.set(keys[n], tallies[n].lastUsedAt);
      else this.keepLastUse(keys[n], tallies[n]);
      // After a failure the batch keeps only what is not stored; else it goes whole, below.
      if (failed) batch.delete(keys[n]);
      if (n % SLICE === SLICE - 1) await yieldToRequests();
    }
    if (failed) throw failed.error;
    batch.clear();
    this.stats.flushes++;
  }

  /** Stops the periodic flush (tests use it to look at unflushed state). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Stops the timer, flushes what is left and stops the writer (app onClose). */
  async close(): Promise<void> {
    this.stop();
    await this.flush(true);
    await this.writer.close();
  }
}
