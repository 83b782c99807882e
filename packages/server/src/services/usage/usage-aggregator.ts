import type { Logger } from "pino";
import type { Db } from "../../store/db.js";
import { hourOf } from "./hours.js";
import { UsageRetention } from "./usage-retention.js";
import {
  COMMITS,
  COMMITTING,
  type UsageChunk,
  type UsageWriter,
  type UsageWriterOptions,
  createUsageWriter,
  newChunk,
  storedFlags,
} from "./usage-writer.js";

/**
 * One key's usage not yet stored. A tally lives as long as its key is in use: a flush takes
 * its counts and leaves it in place, so a key used again needs no new object and no lookup.
 * Nearly always a flush's counts fall in one hour, so that hour's count is kept inline.
 */
interface Tally {
  keyId: string;
  /** The flush round whose list of dirty tallies holds this one (see UsageAggregator.round). */
  round: number;
  /** Out of the aggregator's map (see UsageAggregator.trim): a holder must look the key up again. */
  dropped: boolean;
  /** The latest use seen (epoch ms; 0: none) and its client IP. */
  lastUsedAt: number;
  lastUsedIp: string | null;
  /** The last use known to be stored (epoch ms; -Infinity: none yet). */
  writtenAt: number;
  /**
   * From when a flush may store this key's usage again (the aggregator's clock, epoch ms;
   * -Infinity: its next flush). See {@link USAGE_WRITE_EVERY_MS}.
   */
  dueAt: number;
  /** Start (epoch ms) of the hour `count` is for. */
  hour: number;
  count: number;
  /** Counts of other hours (a flush period spanning an hour boundary), hour start -> requests. */
  others: Map<number, number> | null;
  /**
   * The part holding the counts a flush took off this tally, until they are settled: stored
   * (the database has them) or put back onto the tally. {@link UsageAggregator.unflushed}
   * adds them while they are in flight, so they are never missing from a read. Null: none.
   */
  flight: UsageChunk | null;
  /** Where its counts are in `flight.counts` ([flightFrom, flightTo), triples), and its entry in the flush. */
  flightFrom: number;
  flightTo: number;
  flightEntry: number;
}

/**
 * A key's tally as {@link UsageAggregator.record} returned it. A caller that keeps it (the
 * verify cache keeps it on the key's entry) passes it back on the key's next use, which then
 * skips the lookup in the map of every key in use.
 */
export type UsageTally = Readonly<Tally>;

export interface UsageBucket {
  /** Start of the UTC hour, ISO. */
  hour: string;
  count: number;
}

/**
 * A key's usage (counts and last use) is written at most once a minute: a key used again and
 * again costs a statement a minute, not one per flush. Each write puts the next one a minute
 * on, plus up to {@link USAGE_WRITE_SPREAD_MS} at random, so keys first used together (after
 * a start, say) do not come due together at every minute after. A key's first use after a
 * quiet minute is written at the next flush; shutdown writes everything.
 */
export const USAGE_WRITE_EVERY_MS = 60_000;
export const USAGE_WRITE_SPREAD_MS = 20_000;

/** Keys handled between two turns of the event loop while a flush prepares its chunks. */
const SLICE = 250;
const yieldToRequests = () => new Promise<void>((resolve) => setImmediate(resolve));

function addCount(p: Tally, hour: number, n: number) {
  if (p.count === 0 || p.hour === hour) {
    p.hour = hour;
    p.count += n;
    return;
  }
  p.others ??= new Map();
  p.others.set(hour, (p.others.get(hour) ?? 0) + n);
}

/** Whether a tally holds something not yet stored: counts, or a last use newer than the stored one. */
const hasUnstored = (t: Tally) => t.count > 0 || t.others !== null || t.lastUsedAt > t.writtenAt;

function hoursOf(p: Tally): [hour: number, count: number][] {
  const out: [number, number][] = p.count > 0 ? [[p.hour, p.count]] : [];
  if (p.others) out.push(...p.others);
  return out;
}

/** A key's tally before its first use is recorded: nothing stored yet, nothing in flight. */
const newTally = (keyId: string): Tally => ({
  keyId,
  round: -1,
  dropped: false,
  lastUsedAt: 0,
  lastUsedIp: null,
  writtenAt: Number.NEGATIVE_INFINITY,
  dueAt: Number.NEGATIVE_INFINITY,
  hour: 0,
  count: 0,
  others: null,
  flight: null,
  flightFrom: 0,
  flightTo: 0,
  flightEntry: 0,
});

/** A flush being written: see UsageAggregator.writing. */
interface Writing {
  stored: Uint8Array;
  settled: boolean;
  failed: boolean;
}

/** What an emptied {@link TallyList} holds instead of the tallies it let go of. */
const NO_TALLY: Tally = Object.freeze({ ...newTally(""), dropped: true });

/**
 * A list of tallies that keeps its storage from flush to flush. A list of tens of thousands
 * of keys is a large object, and one that survives a scavenge (any list a flush takes lived
 * through the seconds since the last flush) moves to the old generation: new lists were
 * about 1 MB of old-generation garbage per flush at 60,000 keys, most of what a steady load
 * left there, and they brought the next full collection (the longest pauses) closer.
 */
class TallyList {
  private items: Tally[] = [];
  length = 0;

  push(t: Tally) {
    this.items[this.length++] = t;
  }

  at(i: number): Tally {
    return this.items[i];
  }

  /** Empties the list, keeping its storage, and lets go of the tallies it held. */
  clear() {
    this.items.fill(NO_TALLY, 0, this.length);
    this.length = 0;
  }
}

/**
 * Key usage (last use, hourly request counts) gathered in memory on the verification path,
 * which never writes, and flushed to the database in batches: on a timer, and on shutdown.
 * Each round of flushing takes the tallies used since the last one (a list, not a map:
 * nothing is looked up to flush). `stats` counts the flush's database statements, so the
 * benchmark can show verify itself does none. Counts older than the retention are deleted
 * by {@link retention}, through the same writer.
 */
export class UsageAggregator {
  /** Every key's tally, while it is in use (bounded by {@link trim}). */
  private tallies = new Map<string, Tally>();
  /** Tallies with something to store, gathered in the current round; a flush takes the list. */
  private dirty = new TallyList();
  /** The list the last flush took, emptied: the round after the next one gathers into it. */
  private spare = new TallyList();
  /** Per entry a flush hands to the writer (in the order of its parts' keys): its tally. */
  private entries = new TallyList();
  /** Starts a new list at each flush; a tally whose `round` differs is not in the current list. */
  private round = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  /**
   * The flush being written, while tallies' counts are in flight: `stored` flags each entry as
   * its transaction commits (see storedFlags; empty until the commit starts), `settled` once
   * the whole commit has answered, and `failed` whether it stopped short (see {@link inFlight}).
   */
  private writing: Writing | null = null;
  private readonly writer: UsageWriter;
  /** Deletes counts past their retention (`retentionDays`; none when unset or 0). */
  readonly retention: UsageRetention;
  readonly stats = { flushes: 0, failedFlushes: 0, reads: 0, writes: 0, recorded: 0 };
  /** The aggregator's clock (epoch ms), which the once-a-minute rule reads. */
  private readonly nowMs: () => number;
  /** Tallies kept before the idle ones are let go. */
  private readonly maxTallies: number;

  constructor(
    db: Db,
    private readonly logger: Logger,
    private readonly opts: {
      flushIntervalMs?: number;
      transactionRows?: number;
      /** Tests only: see UsageWriterOptions. */
      afterTransaction?: UsageWriterOptions["afterTransaction"];
      maxTallies?: number;
      retentionDays?: number;
      now?: () => Date;
    } = {},
  ) {
    this.writer = createUsageWriter(db, {
      transactionRows: opts.transactionRows,
      afterTransaction: opts.afterTransaction,
    });
    this.maxTallies = opts.maxTallies ?? 500_000;
    const now = opts.now ?? (() => new Date());
    this.nowMs = () => now().getTime();
    this.retention = new UsageRetention({
      days: opts.retentionDays ?? 0,
      prune: (before) => this.writer.prune(before, this.stats),
      now,
      logger,
    });
  }

  /** Whether flush statements go through the query builder (the benchmark counts those apart). */
  get flushesViaQueryBuilder(): boolean {
    return this.writer.viaQueryBuilder;
  }

  /** Starts the periodic flush and the retention's prunes (unref'd: they never keep the process alive). */
  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs ?? 10_000);
      this.timer.unref();
    }
    this.retention.start();
    return this;
  }

  /**
   * One use of a key. Synchronous and in memory only. `last` is what the previous call for
   * the same key returned, if the caller kept it: then no lookup is needed.
   */
  record(keyId: string, ip: string | null, nowMs: number, last?: UsageTally | null): UsageTally {
    this.stats.recorded++;
    let t = last && !last.dropped ? (last as Tally) : this.tallies.get(keyId);
    if (!t) {
      t = newTally(keyId);
      this.tallies.set(keyId, t);
    }
    this.markDirty(t);
    if (nowMs >= t.lastUsedAt) {
      t.lastUsedAt = nowMs;
      t.lastUsedIp = ip;
    }
    const hour = hourOf(nowMs);
    if (t.hour === hour) t.count++;
    else addCount(t, hour, 1);
    return t;
  }

  /** Lists a tally for the next flush when it still holds something unstored (what a flush leaves). */
  private keepForNextRound(t: Tally) {
    if (hasUnstored(t)) this.markDirty(t);
  }

  private markDirty(t: Tally) {
    if (t.round === this.round) return;
    t.round = this.round;
    this.dirty.push(t);
  }

  /**
   * Whether the counts a flush took off `t` are still not in the database: the transaction
   * holding them has not committed (the writer flags each entry as its own transaction does,
   * before the rest of the flush), and the commit has not answered, or failed and they are
   * not back on the tally yet (once they are, `flight` is cleared in the same step). Stored
   * counts stop counting here once the writer learns of their commit, so nothing is counted
   * twice, though the flush commits in several transactions.
   */
  private inFlight(t: Tally): t is Tally & { flight: UsageChunk } {
    const w = this.writing;
    // The entry check also ignores a `flight` left by an earlier flush.
    if (t.flight === null || w === null || this.entries.at(t.flightEntry) !== t) return false;
    return w.stored[t.flightEntry] !== 1 && (!w.settled || w.failed);
  }

  /**
   * Runs `read` (stored counts from the database, then {@link unflushed}) so that no flush of
   * this node commits counts in the middle of it, which would count them twice (the database
   * has them, their entries not yet flagged) or not at all (flagged after the database was
   * read). It waits for a commit under way, and reads again when one happened during the read
   * (ten reads at most: a read is never held for long).
   */
  async consistentRead<T>(read: () => Promise<T>): Promise<T> {
    const watch = this.writer.watch;
    for (let attempt = 1; ; attempt++) {
      for (let waited = 0; Atomics.load(watch, COMMITTING) > 0 && waited < 50; waited++)
        await new Promise((r) => setTimeout(r, 1));
      const commits = Atomics.load(watch, COMMITS);
      const result = await read();
      if (attempt === 10) return result;
      if (Atomics.load(watch, COMMITTING) === 0 && Atomics.load(watch, COMMITS) === commits) return result;
    }
  }

  /** Not yet stored usage of one key (merged into usage reads on this node), in-flight counts included. */
  unflushed(keyId: string): { lastUsedAt: string | null; lastUsedIp: string | null; buckets: UsageBucket[] } {
    const t = this.tallies.get(keyId);
    const unwritten = !!t && t.lastUsedAt > t.writtenAt;
    const hours = t ? hoursOf(t) : [];
    if (t && this.inFlight(t)) {
      const c = t.flight.counts;
      for (let i = t.flightFrom; i < t.flightTo; i += 3) {
        const at = hours.findIndex(([h]) => h === c[i + 1]);
        if (at >= 0) hours[at][1] += c[i + 2];
        else hours.push([c[i + 1], c[i + 2]]);
      }
      hours.sort((a, b) => a[0] - b[0]);
    }
    return {
      lastUsedAt: unwritten ? new Date(t.lastUsedAt).toISOString() : null,
      lastUsedIp: unwritten ? t.lastUsedIp : null,
      buckets: hours.map(([h, count]) => ({ hour: new Date(h).toISOString(), count })),
    };
  }

  /**
   * Writes what was gathered (single flight; concurrent callers wait for it). `all` also writes
   * the usage held back by the once-a-minute rule (shutdown does).
   */
  flush(all = false): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.dirty.length ? this.flush(all) : undefined));
    if (this.dirty.length === 0) return Promise.resolve();
    const batch = this.dirty;
    this.dirty = this.spare;
    this.round++;
    this.flushing = this.write(batch, all)
      .catch((err) => {
        this.stats.failedFlushes++;
        this.logger.error({ err }, "usage flush failed; counts kept for the next attempt");
      })
      .finally(() => {
        batch.clear();
        this.spare = batch;
        this.flushing = null;
      });
    return this.flushing;
  }

  /** One flush of `batch` ({@link writeEntries}), then lets go of idle tallies if there are too many. */
  private async write(batch: TallyList, all: boolean): Promise<void> {
    try {
      await this.writeEntries(batch, all);
    } finally {
      this.writing = null;
      this.entries.clear();
    }
    this.stats.flushes++;
    if (this.tallies.size > this.maxTallies) await this.trim();
  }

  /**
   * Hands the counts of `batch` that are due (see {@link USAGE_WRITE_EVERY_MS}) to the writer
   * part by part (taking them off the tallies, which go on counting; until their transaction
   * commits {@link unflushed} still finds them, through the tally's `flight`) and, once
   * written, notes the last uses stored and when the next write is due. What a failure leaves
   * unstored goes back onto the tallies for the next flush, and so does usage held back by the
   * once-a-minute rule: each such tally joins the next round's list (the round has already
   * moved on) in the pass that touches it anyway. Requests are let in every {@link SLICE}
   * keys: a whole flush at once held the event loop for several milliseconds.
   */
  private async writeEntries(batch: TallyList, all: boolean): Promise<void> {
    /** Every part, the one being filled included: what a failure puts back is found there. */
    const parts: UsageChunk[] = [];
    const entries = this.entries;
    /** Tallies of `batch` looked at so far: those after it (a failure part-way) wait for the next round. */
    let seen = 0;
    let error: Error | null = null;
    const startedAt = this.nowMs();
    const writing: Writing = { stored: new Uint8Array(0), settled: false, failed: false };
    this.writing = writing;
    try {
      const flush = this.writer.begin();
      let part = newChunk();
      parts.push(part);
      for (; seen < batch.length; seen++) {
        const t = batch.at(seen);
        const lastUse = t.lastUsedAt > t.writtenAt;
        const due = all || startedAt >= t.dueAt;
        if (due && (lastUse || t.count > 0 || t.others)) {
          const k = part.keyIds.push(t.keyId) - 1;
          part.lastUsedAt.push(lastUse ? t.lastUsedAt : -1);
          part.lastUsedIp.push(t.lastUsedIp);
          t.flight = part;
          t.flightFrom = part.counts.length;
          if (t.count > 0) part.counts.push(k, t.hour, t.count);
          if (t.others) for (const [hour, count] of t.others) part.counts.push(k, hour, count);
          t.flightTo = part.counts.length;
          t.flightEntry = entries.length;
          t.count = 0;
          t.others = null;
          entries.push(t);
          if (part.keyIds.length === this.writer.partSize) {
            flush.add(part);
            part = newChunk();
            parts.push(part);
          }
        } else this.keepForNextRound(t); // usage held back, if any
        if (seen % SLICE === SLICE - 1) await yieldToRequests();
      }
      if (part.keyIds.length > 0) flush.add(part);
      if (entries.length > 0) {
        writing.stored = storedFlags(entries.length);
        error = await flush.commit(this.stats, writing.stored);
      }
    } catch (err) {
      error = err as Error;
    }
    // From here the flags are final: counts not stored stay in flight until put back.
    const failed = error !== null;
    writing.failed = failed;
    writing.settled = true;
    const stored = (e: number) => !failed || writing.stored[e] === 1;
    let e = 0;
    for (const p of parts) {
      for (let k = 0; k < p.keyIds.length; k++, e++) {
        const t = entries.at(e);
        // The part holds the last use written with the entry (-1: none).
        if (stored(e)) {
          t.dueAt = startedAt + USAGE_WRITE_EVERY_MS + Math.random() * USAGE_WRITE_SPREAD_MS;
          if (p.lastUsedAt[k] > t.writtenAt) t.writtenAt = p.lastUsedAt[k];
          t.flight = null;
        }
        this.keepForNextRound(t);
        if (e % SLICE === SLICE - 1) await yieldToRequests();
      }
      if (failed) {
        // Counts not stored go back onto their tallies (which may have counted more since).
        const first = e - p.keyIds.length;
        for (let i = 0; i < p.counts.length; i += 3) {
          const t = entries.at(first + p.counts[i]);
          if (!stored(first + p.counts[i])) {
            addCount(t, p.counts[i + 1], p.counts[i + 2]);
            this.keepForNextRound(t);
          }
        }
        // Back on their tallies (this loop does not yield): no longer in flight.
        for (let k = 0; k < p.keyIds.length; k++) entries.at(first + k).flight = null;
      }
    }
    this.writing = null;
    for (let n = seen; n < batch.length; n++) this.keepForNextRound(batch.at(n));
    if (error) throw error;
  }

  /**
   * Lets go of the tallies with nothing left to store (a key not used since its last flush):
   * the map holds every key in use, so it is bounded. A let-go tally is marked dropped, so a
   * cache entry still holding it looks the key up again; the key's next use is written at the
   * next flush, as a first use is.
   */
  private async trim(): Promise<void> {
    let n = 0;
    for (const [keyId, t] of this.tallies) {
      if (t.round !== this.round && !hasUnstored(t)) {
        t.dropped = true;
        this.tallies.delete(keyId);
      }
      if (++n % (SLICE * 8) === 0) await yieldToRequests();
    }
  }

  /** Stops the periodic flush (tests use it to look at unflushed state). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Stops the timers, flushes what is left and stops the writer (app onClose). */
  async close(): Promise<void> {
    this.stop();
    await this.retention.stop();
    await this.flush(true);
    await this.writer.close();
  }
}
