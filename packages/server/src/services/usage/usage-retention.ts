import type { Logger } from "pino";
import { DAY, HOUR, hourOf } from "./hours.js";

/**
 * The first hour whose counts are kept when counts are kept `days` days: an hour is deleted
 * once all of it is older than that, so a kept range is always whole hours.
 */
export const retainedFrom = (nowMs: number, days: number): number => hourOf(nowMs - days * DAY);

export interface UsageRetentionOptions {
  /** Days of hourly counts kept; 0 keeps them all. */
  days: number;
  /** Deletes the counts of hours before the given hour (epoch ms); returns the rows deleted. */
  prune: (before: number) => Promise<number>;
  now: () => Date;
  logger: Logger;
  /** Delay of the first prune after start (ms): a starting node serves before it cleans up. */
  firstAfterMs?: number;
  /** Period of the prunes after it (ms). */
  everyMs?: number;
}

/**
 * Deletes hourly usage counts older than the retention, once shortly after start and then
 * every hour (each prune then finds about an hour's rows). Without it `key_usage` grows by a
 * row per key per hour used, forever.
 */
export class UsageRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  /** Rows deleted and prunes failed since start (for /metrics). */
  readonly stats = { deletedRows: 0, failures: 0 };

  constructor(private readonly opts: UsageRetentionOptions) {}

  /** Schedules the prunes (unref'd: they never keep the process alive); nothing when days is 0. */
  start(): this {
    if (this.opts.days === 0 || this.timer) return this;
    const every = this.opts.everyMs ?? HOUR;
    this.timer = setTimeout(() => {
      void this.run();
      this.timer = setInterval(() => void this.run(), every).unref();
    }, this.opts.firstAfterMs ?? 60_000).unref();
    return this;
  }

  /** Prunes now (single flight); a failure is logged and left to the next prune. Returns the rows deleted. */
  run(): Promise<number> {
    if (this.opts.days === 0) return Promise.resolve(0);
    this.running ??= this.prune().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async prune(): Promise<number> {
    const before = retainedFrom(this.opts.now().getTime(), this.opts.days);
    try {
      const deleted = await this.opts.prune(before);
      this.stats.deletedRows += deleted;
      if (deleted > 0) {
        this.opts.logger.info(
          { deleted, before: new Date(before).toISOString(), retentionDays: this.opts.days },
          "usage counts past their retention deleted",
        );
      }
      return deleted;
    } catch (err) {
      this.stats.failures++;
      this.opts.logger.error({ err }, "usage retention: deleting old counts failed; the next prune tries again");
      return 0;
    }
  }

  /** Stops the schedule and waits for a prune under way (before the database closes). */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer); // the first prune's timeout or the hourly interval
    this.timer = null;
    await this.running;
  }
}
