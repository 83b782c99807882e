import { describe, expect, it } from "vitest";
import { newId, randomBase62, requestIds } from "./ids.js";

describe("ids", () => {
  it("prefixes ids and uses 24 base62 characters", () => {
    for (const prefix of ["org", "prj", "usr", "sa", "role", "rb", "inv", "key", "req", "evt", "sess"] as const) {
      expect(newId(prefix)).toMatch(new RegExp(`^${prefix}_[0-9A-Za-z]{24}$`));
    }
  });

  it("does not repeat", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId("key")));
    expect(ids.size).toBe(10_000);
  });

  it("returns exactly the requested length", () => {
    for (const n of [0, 1, 7, 32, 64, 200]) expect(randomBase62(n)).toHaveLength(n);
  });

  it("spreads symbols evenly over the alphabet (no modulo bias)", () => {
    const counts = new Map<string, number>();
    const sample = randomBase62(62 * 2000);
    for (const c of sample) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // Expected 2000 each; a biased generator (byte % 62) would give the first 8 symbols ~+25%.
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(1700);
      expect(n).toBeLessThan(2300);
    }
  });

  it("gives request ids the shape of every id, unique within and across processes", () => {
    const a = requestIds();
    const b = requestIds();
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      for (const id of [a(), b()]) {
        expect(id).toMatch(/^req_[0-9A-Za-z]{24}$/);
        seen.add(id);
      }
    }
    expect(seen.size).toBe(10_000);
  });
});
