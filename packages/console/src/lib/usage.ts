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

const HOUR = 3_600_000;

/**
 * A continuous series from `from` to `to`, hour by hour or day by day, summing the hourly
 * buckets into their step, so quiet steps show as zero instead of disappearing. Days are the
 * viewer's calendar days (23 or 25 hours across a daylight-saving change), as their labels say.
 */
export function usageSeries(
  buckets: readonly UsageBucket[],
  from: Date,
  to: Date,
  step: "hour" | "day",
): UsageBucket[] {
  const starts: number[] = [];
  if (step === "hour") {
    for (let t = Math.floor(from.getTime() / HOUR) * HOUR; t <= to.getTime(); t += HOUR) starts.push(t);
  } else {
    const day = new Date(from.getFullYear(), from.getMonth(), from.getDate());
    for (; day.getTime() <= to.getTime(); day.setDate(day.getDate() + 1)) starts.push(day.getTime());
  }
  const out = starts.map((t) => ({ time: new Date(t).toISOString(), count: 0 }));
  for (const b of buckets) {
    const t = Date.parse(b.time);
    // The last step that starts at or before the bucket's hour.
    let i = starts.length - 1;
    while (i >= 0 && starts[i] > t) i--;
    if (i >= 0 && t < (starts[i + 1] ?? to.getTime() + 1)) out[i].count += b.count;
  }
  return out;
}

/** The start of the local day `days - 1` days before `now`'s: a range of `days` whole calendar days, today's included. */
export function startOfLocalDays(now: Date, days: number): Date {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() - (days - 1));
}

/** Day label for the chart axis. */
export const dayLabel = (iso: string) =>
  new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric" });
