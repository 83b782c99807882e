// A viewer west of UTC, set before any date is made (Node reads TZ again when it changes).
process.env.TZ = "America/New_York";

import { describe, expect, it } from "vitest";
import { dayLabel, startOfLocalDays, usageSeries } from "./usage";

describe("usageSeries", () => {
  it("runs in New York time here", () => {
    expect(Intl.DateTimeFormat().resolvedOptions().timeZone).toBe("America/New_York");
  });

  it("fills quiet hours with zeros", () => {
    const from = new Date("2026-01-01T00:00:00Z");
    const to = new Date("2026-01-01T03:30:00Z");
    const hourly = usageSeries([{ time: "2026-01-01T02:00:00.000Z", count: 5 }], from, to, "hour");
    expect(hourly.map((b) => b.count)).toEqual([0, 0, 5, 0]);
  });

  it("sums hours into the viewer's calendar days, labelled with them", () => {
    const to = new Date("2026-11-25T23:00:00Z"); // 18:00 on Nov 25 in New York
    const from = startOfLocalDays(to, 7);
    expect(from.toISOString()).toBe("2026-11-19T05:00:00.000Z"); // midnight of Nov 19, local
    const buckets = [
      { time: "2026-11-19T04:00:00.000Z", count: 1000 }, // 23:00 on Nov 18: before the range
      { time: "2026-11-25T02:00:00.000Z", count: 1 }, // 21:00 on Nov 24
      { time: "2026-11-25T14:00:00.000Z", count: 10 }, // 09:00 on Nov 25
      { time: "2026-11-25T22:00:00.000Z", count: 100 }, // 17:00 on Nov 25
    ];
    const bars = usageSeries(buckets, from, to, "day").map((b) => [dayLabel(b.time), b.count]);
    expect(bars).toEqual([
      ["Nov 19", 0],
      ["Nov 20", 0],
      ["Nov 21", 0],
      ["Nov 22", 0],
      ["Nov 23", 0],
      ["Nov 24", 1],
      ["Nov 25", 110],
    ]);
  });

  it("keeps a day of 25 hours whole across the end of daylight saving time", () => {
    const to = new Date("2026-11-02T12:00:00Z"); // Nov 2, 07:00 EST; Nov 1 had 25 hours
    const from = startOfLocalDays(to, 2);
    const buckets = [
      { time: "2026-11-01T04:00:00.000Z", count: 1 }, // 00:00 EDT, Nov 1
      { time: "2026-11-02T04:00:00.000Z", count: 2 }, // 23:00 EST, Nov 1 (its 25th hour)
      { time: "2026-11-02T05:00:00.000Z", count: 4 }, // 00:00 EST, Nov 2
    ];
    const bars = usageSeries(buckets, from, to, "day").map((b) => [dayLabel(b.time), b.count]);
    expect(bars).toEqual([
      ["Nov 1", 3],
      ["Nov 2", 4],
    ]);
  });
});
