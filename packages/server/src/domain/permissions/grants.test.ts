import { describe, expect, it } from "vitest";
import { buildCatalog } from "./catalog.js";
import { type Grant, allows, allowsAnywhere, expandGrants } from "./grants.js";
import { builtinRoles } from "./roles.js";

const catalog = buildCatalog([
  { name: "compute:read", description: "" },
  { name: "compute:write", description: "" },
  { name: "storage:read", description: "" },
]);

describe("allows", () => {
  const grants: Grant[] = [
    { pattern: "compute:read", projectId: null },
    { pattern: "compute:write", projectId: "prj_a" },
  ];

  it("applies org-wide grants everywhere", () => {
    expect(allows(grants, "compute:read", null)).toBe(true);
    expect(allows(grants, "compute:read", "prj_b")).toBe(true);
  });

  it("applies project grants only in their project", () => {
    expect(allows(grants, "compute:write", "prj_a")).toBe(true);
    expect(allows(grants, "compute:write", "prj_b")).toBe(false);
    expect(allows(grants, "compute:write", null)).toBe(false);
    expect(allowsAnywhere(grants, "compute:write")).toBe(true);
  });

  it("denies by default", () => {
    expect(allows([], "compute:read", null)).toBe(false);
    expect(allows(grants, "storage:read", null)).toBe(false);
    expect(allowsAnywhere([], "compute:read")).toBe(false);
  });
});

describe("expandGrants", () => {
  it("expands org grants and adds them to every project's set", () => {
    const { org, projects } = expandGrants(
      [
        { pattern: "*:read", projectId: null },
        { pattern: "compute:*", projectId: "prj_a" },
      ],
      catalog,
      false,
    );
    expect(org.has("compute:read")).toBe(true);
    expect(org.has("compute:write")).toBe(false);
    expect(projects.get("prj_a")?.has("compute:write")).toBe(true);
    expect(projects.get("prj_a")?.has("storage:read")).toBe(true);
    expect(projects.has("prj_b")).toBe(false);
  });

  it("gives the platform permission only in the operator org", () => {
    const owner = [{ pattern: "*", projectId: null }];
    expect(expandGrants(owner, catalog, false).org.has("iam:apikeys:verify")).toBe(false);
    expect(expandGrants(owner, catalog, true).org.has("iam:apikeys:verify")).toBe(true);
  });
});

describe("builtinRoles", () => {
  const roles = builtinRoles(["compute:read"]);
  const byId = new Map(roles.map((r) => [r.id, r]));
  const expandGrantsOf = (id: string) =>
    expandGrants(
      (byId.get(id)?.permissions ?? []).map((pattern) => ({ pattern, projectId: null })),
      catalog,
      false,
    ).org;

  it("has the four fixed ids", () => {
    expect(roles.map((r) => r.id)).toEqual(["role_owner", "role_admin", "role_member", "role_viewer"]);
  });

  it("owner holds everything; admin everything IAM but org deletion", () => {
    expect(expandGrantsOf("role_owner").size).toBe(catalog.length - 1); // all but the platform permission outside the operator org
    const admin = expandGrantsOf("role_admin");
    expect(admin.has("iam:orgs:delete")).toBe(false);
    expect(admin.has("iam:members:manage")).toBe(true);
    expect(admin.has("compute:read")).toBe(false);
  });

  it("member gets the operator's product permissions and can create keys", () => {
    const member = expandGrantsOf("role_member");
    expect(member.has("compute:read")).toBe(true);
    expect(member.has("compute:write")).toBe(false);
    expect(member.has("iam:apikeys:create")).toBe(true);
    expect(member.has("iam:members:manage")).toBe(false);
  });

  it("viewer only reads", () => {
    const viewer = [...expandGrantsOf("role_viewer")];
    expect(viewer.length).toBeGreaterThan(0);
    expect(viewer.every((p) => /:(read|list|get)$/.test(p))).toBe(true);
  });
});
