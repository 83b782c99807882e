import { describe, expect, it } from "vitest";
import type { Role } from "../api/types";
import {
  allSelected,
  can,
  groupByProduct,
  matches,
  patternsOf,
  permissionSummary,
  selectAll,
  toggleAll,
} from "./permissions";

const names = [
  "compute:read",
  "compute:write",
  "compute:delete",
  "storage:read",
  "iam:apikeys:create",
  "iam:orgs:read",
];
const perm = (name: string) => ({ name, description: "", platform: false, readOnly: name.endsWith(":read") });

describe("matches", () => {
  it("follows the server's wildcard rules", () => {
    expect(matches("*", "compute:read")).toBe(true);
    expect(matches("compute:*", "compute:disk:read")).toBe(true);
    expect(matches("*:read", "storage:read")).toBe(true);
    expect(matches("*:read", "storage:write")).toBe(false);
    expect(matches("compute:read", "compute:write")).toBe(false);
  });
});

describe("bulk selection", () => {
  it("selects all reads, writes or deletes", () => {
    expect(selectAll([], names, "read").sort()).toEqual(["compute:read", "iam:orgs:read", "storage:read"]);
    expect(selectAll([], names, "write").sort()).toEqual(["compute:write", "iam:apikeys:create"]);
    expect(selectAll(["storage:read"], names, "delete").sort()).toEqual(["compute:delete", "storage:read"]);
  });
  it("toggles a kind off when it is already fully selected", () => {
    const reads = selectAll([], names, "read");
    expect(allSelected(reads, names, "read")).toBe(true);
    expect(toggleAll([...reads, "compute:write"], names, "read")).toEqual(["compute:write"]);
  });
});

describe("groupByProduct", () => {
  it("groups by the first segment with iam last", () => {
    expect(groupByProduct(names.map(perm)).map((g) => g.product)).toEqual(["compute", "storage", "iam"]);
  });
});

describe("patternsOf / can", () => {
  const roles: Role[] = [
    {
      id: "role_admin",
      orgId: null,
      name: "admin",
      description: "",
      permissions: ["iam:apikeys:manage"],
      builtin: true,
    },
    { id: "role_x", orgId: "org_1", name: "x", description: "", permissions: ["compute:*"], builtin: false },
  ];
  it("uses org-wide bindings only unless asked", () => {
    const bindings = [{ roleId: "role_admin", projectId: "prj_1" }, { roleId: "role_x" }];
    expect(can(patternsOf(bindings, roles), "iam:apikeys:manage")).toBe(false);
    expect(can(patternsOf(bindings, roles, false), "iam:apikeys:manage")).toBe(true);
    expect(can(patternsOf(bindings, roles), "compute:write")).toBe(true);
  });
});

describe("permissionSummary", () => {
  it("summarises a key's permissions", () => {
    expect(permissionSummary({ permissions: [], roles: [], readOnly: false })).toBe("All of owner's");
    expect(permissionSummary({ permissions: ["a:read"], roles: ["role_viewer"], readOnly: true })).toBe(
      "a:read + role viewer",
    );
    expect(permissionSummary({ permissions: ["a:read", "b:read", "c:read"], roles: [], readOnly: false })).toBe(
      "3 permissions",
    );
  });
});
