import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_ORG_SETTINGS } from "../org-settings.js";
import { type Grant, allows, expandGrants } from "../permissions/grants.js";
import { expand } from "../permissions/match.js";
import { effectivePermissions } from "./effective.js";
import {
  checkKeyPolicy,
  excess,
  grantableAt,
  holdsExplicitCreate,
  loosenedLimits,
  normaliseKeyIps,
  parseExpiry,
} from "./policy.js";

const NAMES = [
  "a:read",
  "a:write",
  "a:disk:read",
  "a:disk:delete",
  "b:read",
  "b:write",
  "b:delete",
  "iam:apikeys:create",
];
const catalog = NAMES.map((name) => ({ name, description: name }));
const PATTERNS = [...NAMES, "*", "a:*", "b:*", "*:read", "a:*:read", "iam:*", "a:disk:*"];
const PROJECTS = ["prj_1", "prj_2"];

const grantArb = fc.record({
  pattern: fc.constantFrom(...PATTERNS),
  projectId: fc.constantFrom<string | null>(null, ...PROJECTS),
});
const scopeArb = fc.option(fc.subarray(PROJECTS, { minLength: 1 }), { nil: null });

/** Oracle: does the caller hold `p` everywhere the key acts? Brute force over raw grants. */
const holdsEverywhere = (grants: Grant[], p: string, scope: string[] | null) =>
  scope === null ? allows(grants, p, null) : scope.every((prj) => allows(grants, p, prj));

describe("no escalation (property)", () => {
  it("a request is grantable iff every permission it expands to is held wherever the key acts", () => {
    fc.assert(
      fc.property(
        fc.array(grantArb, { maxLength: 6 }),
        fc.array(fc.constantFrom(...PATTERNS), { minLength: 1, maxLength: 4 }),
        scopeArb,
        (grants, requested, scope) => {
          const can = (p: string, prj: string | null) => allows(grants, p, prj);
          const grantable = grantableAt(NAMES, can, scope);
          const wanted = expand(requested, catalog, false);
          const ok = excess(wanted, grantable).length === 0;
          expect(ok).toBe([...wanted].every((p) => holdsEverywhere(grants, p, scope)));
          // The grantable set is itself always grantable, and nothing outside it is.
          expect(excess(grantable, grantable)).toEqual([]);
          for (const n of NAMES) if (!grantable.has(n)) expect(holdsEverywhere(grants, n, scope)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("a key's effective permissions never exceed its owner's, in any scope", () => {
    fc.assert(
      fc.property(
        fc.array(grantArb, { maxLength: 6 }),
        fc.option(fc.array(fc.constantFrom(...PATTERNS), { maxLength: 4 }), { nil: null }),
        fc.boolean(),
        (ownerGrants, keyPatterns, readOnly) => {
          const keyPermissions = keyPatterns === null ? null : expand(keyPatterns, catalog, false);
          const eff = effectivePermissions({ keyPermissions, ownerGrants, catalog, includePlatform: false, readOnly });
          const owner = expandGrants(ownerGrants, catalog, false);
          for (const p of eff.org) {
            expect(owner.org.has(p)).toBe(true);
            if (keyPermissions) expect(keyPermissions.has(p)).toBe(true);
            if (readOnly) expect(p.endsWith(":read")).toBe(true);
          }
          for (const [prj, set] of eff.projects) {
            for (const p of set) expect(allows(ownerGrants, p, prj)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("parseExpiry", () => {
  const now = new Date("2026-06-01T00:00:00Z");
  it("accepts RFC 3339 and Unix seconds in the future", () => {
    expect(parseExpiry("2027-01-01T00:00:00Z", now)).toEqual({ iso: "2027-01-01T00:00:00.000Z" });
    expect(parseExpiry("2027-01-01T02:00:00+02:00", now)).toEqual({ iso: "2027-01-01T00:00:00.000Z" });
    expect(parseExpiry(1798761600, now)).toEqual({ iso: "2027-01-01T00:00:00.000Z" });
    expect(parseExpiry("1798761600", now)).toEqual({ iso: "2027-01-01T00:00:00.000Z" });
  });
  it("rejects the past, the present and non-dates", () => {
    for (const bad of [
      "2026-06-01T00:00:00Z",
      "2020-01-01T00:00:00Z",
      "tomorrow",
      "2027-13-01T00:00:00Z",
      "2027-01-01",
      1.5,
      -1,
      // Days that are not on the calendar (parsers roll them over into the next month).
      "2030-02-30T00:00:00Z",
      "2030-04-31T12:00:00+02:00",
      "2029-02-29T00:00:00Z",
      // An offset that carries the last day of 9999 into year 10000.
      "9999-12-31T23:59:59-01:00",
    ]) {
      expect(parseExpiry(bad, now), String(bad)).toHaveProperty("error");
    }
  });
  it("accepts a leap day and the last hour of 9999 written with an offset", () => {
    expect(parseExpiry("2028-02-29T00:00:00Z", now)).toEqual({ iso: "2028-02-29T00:00:00.000Z" });
    expect(parseExpiry("9999-12-31T23:00:00+01:00", now)).toEqual({ iso: "9999-12-31T22:00:00.000Z" });
  });
});

describe("checkKeyPolicy", () => {
  const base = {
    grants: [{ pattern: "*", projectId: null }],
    scope: null,
    expiresAt: null,
    from: new Date("2026-06-01T00:00:00Z"),
    creating: true,
  };
  const codes = (over: Partial<Parameters<typeof checkKeyPolicy>[0]>, settings = {}) =>
    checkKeyPolicy({ ...base, settings: { ...DEFAULT_ORG_SETTINGS, ...settings }, ...over }).map((v) => v.code);

  it("allows everything by default", () => expect(codes({})).toEqual([]));
  it("restrictKeyCreation counts only a literal iam:apikeys:create", () => {
    expect(codes({}, { restrictKeyCreation: true })).toEqual(["restrictKeyCreation"]);
    const grant = (pattern: string, projectId: string | null = null) => ({ pattern, projectId });
    expect(codes({ grants: [grant("iam:apikeys:*")] }, { restrictKeyCreation: true })).toEqual(["restrictKeyCreation"]);
    expect(codes({ grants: [grant("x:read"), grant("iam:apikeys:create")] }, { restrictKeyCreation: true })).toEqual(
      [],
    );
    expect(codes({ creating: false }, { restrictKeyCreation: true })).toEqual([]);
    expect(holdsExplicitCreate([], null)).toBe(false);
  });
  it("restrictKeyCreation counts a literal grant only where it is bound", () => {
    const inP = [
      { pattern: "*", projectId: null },
      { pattern: "iam:apikeys:create", projectId: "prj_p" },
    ];
    expect(holdsExplicitCreate(inP, null)).toBe(false); // org-wide key: not by a grant in one project
    expect(holdsExplicitCreate(inP, ["prj_p"])).toBe(true);
    expect(holdsExplicitCreate(inP, ["prj_p", "prj_q"])).toBe(false);
    expect(
      holdsExplicitCreate([...inP, { pattern: "iam:apikeys:create", projectId: "prj_q" }], ["prj_p", "prj_q"]),
    ).toBe(true);
    expect(holdsExplicitCreate(inP, [])).toBe(false);
  });
  it("requires an expiry within the lifetime bound", () => {
    expect(codes({}, { requireExpiry: true })).toEqual(["requireExpiry"]);
    expect(codes({}, { maxKeyLifetimeDays: 30 })).toEqual(["requireExpiry"]);
    expect(codes({ expiresAt: "2026-07-01T00:00:00.000Z" }, { maxKeyLifetimeDays: 30 })).toEqual([]);
    expect(codes({ expiresAt: "2026-07-01T00:00:01.000Z" }, { maxKeyLifetimeDays: 30 })).toEqual([
      "maxKeyLifetimeDays",
    ]);
  });
});

describe("normaliseKeyIps", () => {
  it("normalises and names the first bad entry", () => {
    expect(normaliseKeyIps(["10.0.0.9/8", "::FFFF:1.2.3.4", "2001:0db8::0001"])).toEqual({
      rules: ["10.0.0.0/8", "1.2.3.4", "2001:db8::1"],
    });
    expect(normaliseKeyIps(["10.0.0.1", "300.1.1.1"])).toMatchObject({ error: { path: "allowedIps/1" } });
    expect(normaliseKeyIps(["10.0.0.0/33"])).toMatchObject({ error: { path: "allowedIps/0" } });
  });
});

describe("loosenedLimits", () => {
  const none = { allowedIps: null, expiresAt: null, ratelimit: null };
  const limits = {
    allowedIps: ["203.0.113.0/24", "2001:db8::/32"],
    expiresAt: "2030-01-01T00:00:00.000Z",
    ratelimit: { limit: 10, windowSeconds: 60 },
  };

  it("names what a change lifts or loosens", () => {
    expect(loosenedLimits(limits, none)).toEqual(["allowedIps", "expiresAt", "ratelimit"]);
    expect(loosenedLimits(limits, { ...limits, allowedIps: [] })).toEqual(["allowedIps"]);
    expect(loosenedLimits(limits, { ...limits, allowedIps: ["203.0.112.0/23"] })).toEqual(["allowedIps"]);
    expect(loosenedLimits(limits, { ...limits, allowedIps: ["198.51.100.1"] })).toEqual(["allowedIps"]);
    // An IPv6 rule never covers an IPv4 address, nor the other way round.
    expect(loosenedLimits({ ...limits, allowedIps: ["::/0"] }, { ...limits, allowedIps: ["10.0.0.1"] })).toEqual([
      "allowedIps",
    ]);
    expect(loosenedLimits(limits, { ...limits, expiresAt: "2030-01-01T00:00:00.001Z" })).toEqual(["expiresAt"]);
    expect(loosenedLimits(limits, { ...limits, ratelimit: { limit: 11, windowSeconds: 60 } })).toEqual(["ratelimit"]);
    expect(loosenedLimits(limits, { ...limits, ratelimit: { limit: 10, windowSeconds: 59 } })).toEqual(["ratelimit"]);
  });

  it("lets a change keep or tighten every restriction", () => {
    expect(loosenedLimits(limits, limits)).toEqual([]);
    expect(loosenedLimits(none, limits)).toEqual([]);
    expect(loosenedLimits(none, none)).toEqual([]);
    const tighter = {
      allowedIps: ["203.0.113.128/25", "203.0.113.7", "2001:db8:1::/48"],
      expiresAt: "2029-06-01T00:00:00.000Z",
      ratelimit: { limit: 5, windowSeconds: 120 },
    };
    expect(loosenedLimits(limits, tighter)).toEqual([]);
  });
});
