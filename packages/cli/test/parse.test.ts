import { describe, expect, it } from "vitest";
import {
  UsageError,
  collect,
  parseDuration,
  parseExpires,
  parseOwner,
  parseRateLimit,
  parseRoleBindings,
  usageBound,
} from "../src/parse.js";

const now = new Date("2026-11-23T10:00:00.000Z");

describe("flag parsing", () => {
  it("reads durations", () => {
    expect(parseDuration("90")).toBe(90);
    expect(parseDuration("90s")).toBe(90);
    expect(parseDuration("15m")).toBe(900);
    expect(parseDuration("1h")).toBe(3600);
    expect(parseDuration("30d")).toBe(30 * 86400);
    expect(parseDuration("2w")).toBe(14 * 86400);
    expect(() => parseDuration("1.5h")).toThrow(UsageError);
    expect(() => parseDuration("soon")).toThrow(UsageError);
  });

  it("reads --expires as a duration, a date or an instant", () => {
    expect(parseExpires("30d", now)).toBe("2026-12-23T10:00:00.000Z");
    expect(parseExpires("12h", now)).toBe("2026-11-23T22:00:00.000Z");
    expect(parseExpires("2027-01-01", now)).toBe("2027-01-01T00:00:00.000Z");
    expect(parseExpires("2027-01-01T12:30:00+02:00", now)).toBe("2027-01-01T10:30:00.000Z");
    expect(() => parseExpires("2027-13-45", now)).toThrow(UsageError);
    expect(() => parseExpires("2027-02-30", now)).toThrow(UsageError);
    expect(() => parseExpires("tomorrow", now)).toThrow(/--expires/);
  });

  it("reads rate limits, owners, role bindings and repeatable lists", () => {
    expect(parseRateLimit("100/60s")).toEqual({ limit: 100, windowSeconds: 60 });
    expect(parseRateLimit("5/1m")).toEqual({ limit: 5, windowSeconds: 60 });
    expect(() => parseRateLimit("100")).toThrow(UsageError);
    // The server's bounds, checked here (exit 2), not sent to be refused as an API error.
    expect(parseRateLimit("1000000000/1d")).toEqual({ limit: 1_000_000_000, windowSeconds: 86_400 });
    for (const bad of ["0/60s", "1000000001/60s", "100/2d", "100/0s"])
      expect(() => parseRateLimit(bad), bad).toThrow(/--rate-limit/);
    // Usage ranges: a date is its midnight UTC; as the end, that whole day.
    expect(usageBound("2026-11-25", false)).toBe("2026-11-25T00:00:00.000Z");
    expect(usageBound("2026-11-25", true)).toBe("2026-11-26T00:00:00.000Z");
    expect(usageBound("2026-11-25T10:00:00Z", true)).toBe("2026-11-25T10:00:00Z");
    expect(usageBound(undefined, true)).toBeUndefined();
    expect(() => usageBound("2026-02-30", false)).toThrow(/--from/);
    expect(parseOwner("sa_1")).toEqual({ type: "service_account", id: "sa_1" });
    expect(parseOwner("prj_1")).toEqual({ type: "project", id: "prj_1" });
    expect(parseOwner("usr_1")).toEqual({ type: "user", id: "usr_1" });
    expect(() => parseOwner("key_1")).toThrow(UsageError);
    expect(parseRoleBindings(["role_admin", "role_member@prj_1"])).toEqual([
      { roleId: "role_admin" },
      { roleId: "role_member", projectId: "prj_1" },
    ]);
    expect(collect("b,c", collect("a"))).toEqual(["a", "b", "c"]);
  });
});
