import { describe, expect, it } from "vitest";
import { parseIpRule } from "../ip-rules.js";
import { DEFAULT_ORG_SETTINGS } from "../org-settings.js";
import { type ResolvedKey, decide, decideFromAnyAddress, isReadMethod, refusedForAddress } from "./decide.js";
import { effectivePermissions } from "./effective.js";

const catalog = ["compute:read", "compute:write", "storage:read", "storage:write", "iam:apikeys:verify"].map(
  (name) => ({
    name,
    description: name,
    platform: name === "iam:apikeys:verify",
  }),
);
const now = new Date("2026-06-01T00:00:00Z");

function key(over: Partial<ResolvedKey> = {}): ResolvedKey {
  return {
    id: "key_1",
    orgId: "org_1",
    name: "k",
    owner: { type: "user", id: "usr_1" },
    status: "active",
    expiresAt: null,
    readOnly: false,
    defaultProjectId: null,
    allowedProjects: null,
    allowedIps: [],
    orgAllowedIps: [],
    ratelimit: null,
    keyPermissions: null,
    permissions: new Set(["compute:read", "compute:write"]),
    projectPermissions: new Map([["prj_a", new Set(["compute:read", "compute:write", "storage:read"])]]),
    ownerActive: true,
    org: { id: "org_1", isOperator: false, settings: DEFAULT_ORG_SETTINGS },
    matched: "current",
    version: 1,
    createdAt: now.toISOString(),
    ...over,
  };
}

const rules = (...r: string[]) => r.map((s) => parseIpRule(s)!);

describe("decide", () => {
  it("accepts a valid key and reports its effective permissions", () => {
    const d = decide(key(), { permissions: ["compute:read"] }, now);
    expect(d).toMatchObject({
      valid: true,
      keyId: "key_1",
      permissions: ["compute:read", "compute:write"],
      projectId: null,
    });
  });
  it("answers NOT_FOUND for no key", () => expect(decide(null, {}, now)).toEqual({ valid: false, code: "NOT_FOUND" }));
  it("answers a previous secret's expiresAt as its grace's end, or the key's expiry when sooner", () => {
    const graced = (expiresAt: string | null) =>
      decide(key({ matched: "previous", graceEndsAt: "2026-06-01T01:00:00.000Z", expiresAt }), {}, now);
    expect(graced(null)).toMatchObject({ valid: true, expiresAt: "2026-06-01T01:00:00.000Z" });
    expect(graced("2026-06-02T00:00:00.000Z")).toMatchObject({ expiresAt: "2026-06-01T01:00:00.000Z" });
    expect(graced("2026-06-01T00:30:00.000Z")).toMatchObject({ expiresAt: "2026-06-01T00:30:00.000Z" });
    expect(decide(key({ expiresAt: null }), {}, now)).toMatchObject({ valid: true, expiresAt: null });
  });

  it("refuses a previous secret once its grace period ends", () => {
    expect(decide(key({ matched: "previous", graceEndsAt: "2026-06-01T00:00:01Z" }), {}, now).valid).toBe(true);
    expect(decide(key({ matched: "previous", graceEndsAt: now.toISOString() }), {}, now)).toMatchObject({
      code: "NOT_FOUND",
    });
  });
  it("rejects a disabled key", () =>
    expect(decide(key({ status: "disabled" }), {}, now)).toMatchObject({ code: "DISABLED" }));
  it("rejects an expired key at the exact instant", () => {
    expect(decide(key({ expiresAt: now.toISOString() }), {}, now)).toMatchObject({ code: "EXPIRED" });
    expect(decide(key({ expiresAt: "2026-06-01T00:00:01Z" }), {}, now).valid).toBe(true);
  });
  it("rejects a key whose owner left", () =>
    expect(decide(key({ ownerActive: false }), {}, now)).toMatchObject({ code: "OWNER_INACTIVE" }));
  it("applies the key's and the org's IP lists together", () => {
    const k = key({ allowedIps: rules("10.0.0.0/8"), orgAllowedIps: rules("10.1.0.0/16") });
    expect(decide(k, { ip: "10.1.2.3" }, now).valid).toBe(true);
    expect(decide(k, { ip: "10.2.0.1" }, now)).toMatchObject({ code: "IP_NOT_ALLOWED" });
    expect(decide(k, { ip: "::ffff:10.1.2.3" }, now).valid).toBe(true);
    expect(decide(k, {}, now)).toMatchObject({ code: "IP_NOT_ALLOWED" });
  });
  /** A project of the key's org. */
  const inOrg = { projectOrgId: "org_1" };
  it("answers as decide does when the address is judged apart from a decision for any address", () => {
    const keys = [
      key(),
      key({ allowedIps: rules("203.0.113.0/24") }),
      key({ orgAllowedIps: rules("203.0.113.0/25"), allowedIps: rules("203.0.113.0/24") }),
      key({ allowedIps: rules("203.0.113.0/24"), status: "disabled" }),
      key({ allowedIps: rules("203.0.113.0/24"), ownerActive: false }),
      key({ allowedIps: rules("203.0.113.0/24"), expiresAt: now.toISOString() }),
      key({ allowedIps: rules("203.0.113.0/24"), readOnly: true }),
      key({ allowedIps: rules("203.0.113.0/24"), allowedProjects: ["prj_a"] }),
    ];
    const requests = [
      {},
      { permissions: ["storage:write"] },
      { method: "POST" },
      { projectId: "prj_b", projectOrgId: "org_1" },
    ];
    let seen = 0;
    for (const k of keys)
      for (const r of requests)
        for (const ip of [null, "203.0.113.7", "203.0.113.200", "198.51.100.1"]) {
          const any = decideFromAnyAddress(k, r, now);
          const apart = refusedForAddress(any, k, ip) ? { valid: false, code: "IP_NOT_ALLOWED" } : any;
          expect(apart, JSON.stringify([k.status, k.allowedIps.length, r, ip])).toEqual(decide(k, { ...r, ip }, now));
          seen++;
        }
    expect(seen).toBe(128);
  });

  it("keeps a key inside its allowed projects, and a project key inside its project", () => {
    expect(decide(key({ allowedProjects: ["prj_a"] }), { projectId: "prj_b", ...inOrg }, now)).toMatchObject({
      code: "PROJECT_NOT_ALLOWED",
    });
    expect(decide(key({ allowedProjects: ["prj_a"] }), { projectId: "prj_a", ...inOrg }, now).valid).toBe(true);
    // Nor org-wide, unless its preferred project places the request.
    expect(decide(key({ allowedProjects: ["prj_a"] }), {}, now)).toMatchObject({ code: "PROJECT_NOT_ALLOWED" });
    expect(decide(key({ allowedProjects: ["prj_a"], defaultProjectId: "prj_a" }), {}, now)).toMatchObject({
      valid: true,
      projectId: "prj_a",
    });
    const pk = key({ owner: { type: "project", id: "prj_a" } });
    expect(decide(pk, { projectId: "prj_b", ...inOrg }, now)).toMatchObject({ code: "PROJECT_NOT_ALLOWED" });
    expect(decide(pk, { permissions: ["storage:read"] }, now)).toMatchObject({ valid: true, projectId: "prj_a" });
  });
  it("refuses a project of another org, an unknown one, and one nobody looked up", () => {
    const read = { permissions: ["compute:read"], projectId: "prj_x" };
    expect(decide(key(), { ...read, ...inOrg }, now).valid).toBe(true);
    for (const projectOrgId of ["org_2", null, undefined]) {
      expect(decide(key(), { ...read, projectOrgId }, now)).toMatchObject({ code: "PROJECT_NOT_ALLOWED" });
    }
  });
  it("uses per-project permissions and the default project", () => {
    expect(decide(key(), { permissions: ["storage:read"] }, now)).toMatchObject({ code: "INSUFFICIENT_PERMISSIONS" });
    expect(decide(key(), { permissions: ["storage:read"], projectId: "prj_a", ...inOrg }, now).valid).toBe(true);
    expect(decide(key({ defaultProjectId: "prj_a" }), { permissions: ["storage:read"] }, now).valid).toBe(true);
  });
  it("refuses writes with a read-only key", () => {
    const k = key({ readOnly: true, permissions: new Set(["compute:read"]) });
    expect(decide(k, { method: "POST" }, now)).toMatchObject({ code: "READ_ONLY" });
    expect(decide(k, { permissions: ["compute:write"] }, now)).toMatchObject({ code: "READ_ONLY" });
    expect(decide(k, { method: "GET", permissions: ["compute:read"] }, now).valid).toBe(true);
    // Methods are case-sensitive: `get` is no GET to a service that branches on "GET".
    expect(decide(k, { method: "get", permissions: ["compute:read"] }, now)).toMatchObject({ code: "READ_ONLY" });
    expect(isReadMethod("HEAD")).toBe(true);
    expect(isReadMethod("DELETE")).toBe(false);
    expect(decide(k, { method: "" }, now)).toMatchObject({ code: "READ_ONLY" });
  });
});

describe("effectivePermissions", () => {
  it("is key ∩ owner ∩ read-only, per project", () => {
    const eff = effectivePermissions({
      keyPermissions: new Set(["compute:read", "storage:read", "storage:write"]),
      ownerGrants: [
        { pattern: "compute:*", projectId: null },
        { pattern: "storage:*", projectId: "prj_a" },
      ],
      catalog,
      includePlatform: false,
      readOnly: false,
    });
    expect([...eff.org]).toEqual(["compute:read"]);
    expect([...eff.projects.get("prj_a")!].sort()).toEqual(["compute:read", "storage:read", "storage:write"]);
    const ro = effectivePermissions({
      keyPermissions: null,
      ownerGrants: [{ pattern: "*", projectId: null }],
      catalog,
      includePlatform: false,
      readOnly: true,
    });
    expect([...ro.org].sort()).toEqual(["compute:read", "storage:read"]);
  });
  it("leaves platform permissions out outside the operator org", () => {
    const eff = effectivePermissions({
      keyPermissions: null,
      ownerGrants: [{ pattern: "*", projectId: null }],
      catalog,
      includePlatform: false,
      readOnly: false,
    });
    expect(eff.org.has("iam:apikeys:verify")).toBe(false);
  });
});
