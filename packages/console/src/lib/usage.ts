/** Normalises the usage API's answer into chart points, whatever its exact field names. */

export interface UsageBucket {
  time: string;
  count: number;
}

type Raw = Record<string, unknown>;

const firstString = (o: Raw, keys: string[]) =>
  keys.map((k) => o[k]).find((v) => typeof v === "string") as string | undefined;
const firstNumber = (o: Raw, keys: string[]) =>
  keys.map((k) => o[k]).find((v) => typeof v === "number") as number | undefined;

export function usageBuckets(res: unknown): UsageBucket[] {
  const o = (res ?? {}) as Raw;
  const list = (
    Array.isArray(res)
      ? res
      : (["items", "buckets", "hours", "points", "series", "data"].map((k) => o[k]).find(Array.isArray) ?? [])
  ) as Raw[];
  return list
    .map((p) => {
      const time = firstString(p, ["hour", "time", "at", "start", "from", "bucket", "timestamp"]) ?? "";
      let count = firstNumber(p, ["count", "requests", "total", "verifications"]);
      if (count === undefined) {
        const parts = [p.valid, p.invalid, p.success, p.failure, p.allowed, p.denied].filter(
          (x) => typeof x === "number",
        ) as number[];
        count = parts.reduce((a, b) => a + b, 0);
      }
      return { time, count };
    })
    .filter((b) => b.time);
}

/** Hour label for the chart axis. */
export const hourLabel = (iso: string) => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit" });
};

/**
 * A continuous series from `from` to `to` in steps of `stepHours`, summing the hourly buckets
 * into their step, so quiet hours show as zero instead of disappearing.
 */
export function usageSeries(buckets: readonly UsageBucket[], from: Date, to: Date, stepHours: number): UsageBucket[] {
  const step = stepHours * 3_600_000;
  const start = Math.floor(from.getTime() / step) * step;
  const out: UsageBucket[] = [];
  for (let t = start; t <= to.getTime(); t += step) out.push({ time: new Date(t).toISOString(), count: 0 });
  for (const b of buckets) {
    const i = Math.floor((Date.parse(b.time) - start) / step);
    if (i >= 0 && i < out.length) out[i].count += b.count;
  }
  return out;
}

/** Day label for the chart axis. */
export const dayLabel = (iso: string) =>
  new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric" });
