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
