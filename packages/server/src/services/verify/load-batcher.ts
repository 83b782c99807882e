/** What a batch found for one value: the value's result, null for none, or the error its result hit. */
export type BatchResults<R> = Map<string, R | null | Error>;

interface Waiter<R> {
  resolve: (value: R | null) => void;
  reject: (err: unknown) => void;
}

/**
 * Loads values in batches, a bounded number of batches at a time. A value asked for while
 * every slot is busy waits, and goes with the others waiting (at most `size` of them, oldest
 * first) in the next batch. A value asked for alone is loaded at once, by itself: batching
 * never delays a load, it only gathers the loads that would have queued anyway.
 *
 * Cache misses come in bursts (a cold start under load). One statement per key costs
 * PostgreSQL a round trip and a statement each: read alone, a key took 211-242 µs of wall
 * time and 126-177 µs of the client's CPU; in batches of 16, 24-36 and 13-19 (one connection,
 * four statements in flight; bench/RESULTS.md). The bound also keeps a burst from piling
 * onto the database: Kysely's SQLite connection mutex wakes every waiter on each release, so
 * N loads at once cost O(N²).
 *
 * @example
 * const keys = new LoadBatcher(6, 100, (hashes) => loadByHashes(hashes));
 * const key = await keys.load(hash);
 */
export class LoadBatcher<R> {
  /** Values waiting for a slot, oldest first, each with everyone waiting for it. */
  private waiting = new Map<string, Waiter<R>[]>();
  private active = 0;

  constructor(
    private readonly slots: number,
    private readonly size: number,
    private readonly run: (values: string[]) => Promise<BatchResults<R>>,
  ) {}

  load(value: string): Promise<R | null> {
    return new Promise((resolve, reject) => {
      const waiters = this.waiting.get(value);
      if (waiters) waiters.push({ resolve, reject });
      else this.waiting.set(value, [{ resolve, reject }]);
      this.pump();
    });
  }

  private pump() {
    while (this.active < this.slots && this.waiting.size > 0) {
      const batch = new Map<string, Waiter<R>[]>();
      for (const [value, waiters] of this.waiting) {
        batch.set(value, waiters);
        this.waiting.delete(value);
        if (batch.size === this.size) break;
      }
      this.active++;
      this.start(batch);
    }
  }

  private async start(batch: Map<string, Waiter<R>[]>) {
    try {
      const results = await this.run([...batch.keys()]);
      for (const [value, waiters] of batch) {
        const result = results.get(value) ?? null;
        for (const w of waiters) {
          if (result instanceof Error) w.reject(result);
          else w.resolve(result);
        }
      }
    } catch (err) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
    } finally {
      this.active--;
      this.pump();
    }
  }
}
