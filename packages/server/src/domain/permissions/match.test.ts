import { describe, expect, it } from "vitest";
import { IAM_PERMISSIONS, buildCatalog, isReadPermission } from "./catalog.js";
import { PERMISSION_NAME, PERMISSION_PATTERN, expand, matches, patternCacheSize } from "./match.js";

const catalog = buildCatalog([
  { name: "compute:read", description: "" },
  { name: "compute:write", description: "" },
  { name: "compute:disk:read", description: "" },
  { name: "storage:read", description: "" },
  { name: "storage:delete", description: "" },
]);

describe("matches", () => {
  it.each([
    ["compute:read", "compute:read", true],
    ["compute:read", "compute:write", false],
    ["*", "compute:read", true],
    ["*", "iam:orgs:delete", true],
    ["compute:*", "compute:read", true],
    ["compute:*", "compute:disk:read", true],
    ["compute:*", "computer:read", false],
    ["compute:*", "storage:read", false],
    ["*:read", "compute:read", true],
    ["*:read", "iam:orgs:read", true],
    ["*:read", "compute:write", false],
    ["*:read", "compute:readme", false],
    ["iam:*:read", "iam:orgs:read", true],
    ["iam:*:read", "iam:orgs:update", false],
    ["iam:*:read", "compute:read", false],
    ["iam:*", "iam:apikeys:verify", true],
  ])("%s covers %s: %s", (pattern, permission, expected) => {
    expect(matches(pattern, permission)).toBe(expected);
  });

  it("treats regex metacharacters literally", () => {
    expect(matches("a.b:*", "axb:read")).toBe(false);
  });
});

describe("permission syntax", () => {
  it("accepts names and patterns", () => {
    for (const n of ["compute:read", "iam:apikeys:create", "my-svc:thing-x:do"])
      expect(PERMISSION_NAME.test(n)).toBe(true);
    for (const p of ["*", "compute:*", "*:read", "iam:*:read", "compute:read"])
      expect(PERMISSION_PATTERN.test(p)).toBe(true);
  });

  it("rejects malformed ones", () => {
    for (const n of ["compute", "Compute:read", "a:b:c:d", ":read", "compute:", "compute:*", "1a:read"]) {
      expect(PERMISSION_NAME.test(n)).toBe(false);
    }
    for (const p of ["comp*:read", "**", "a:b:c:d", "", "compute:read ", "compute::read"])
      expect(PERMISSION_PATTERN.test(p)).toBe(false);
  });
});

describe("expand", () => {
  it("expands wildcards to concrete catalog permissions", () => {
    expect([...expand(["compute:*"], catalog, false)].sort()).toEqual([
      "compute:disk:read",
      "compute:read",
      "compute:write",
    ]);
    expect([...expand(["*:read"], catalog, false)]).toContain("iam:orgs:read");
    expect([...expand(["*:read"], catalog, false)]).not.toContain("compute:write");
    expect(expand(["nothing:here"], catalog, false).size).toBe(0);
  });

  it("leaves platform permissions out unless asked for (operator org only)", () => {
    expect(expand(["*"], catalog, false).has("iam:apikeys:verify")).toBe(false);
    expect(expand(["iam:apikeys:verify"], catalog, false).size).toBe(0);
    expect(expand(["*"], catalog, true).has("iam:apikeys:verify")).toBe(true);
    expect(expand(["*"], catalog, true).size).toBe(catalog.length);
  });
});

describe("catalog", () => {
  it("puts iam:* first and drops duplicates", () => {
    const c = buildCatalog([
      { name: "iam:orgs:read", description: "dup" },
      { name: "x:read", description: "" },
    ]);
    expect(c.slice(0, IAM_PERMISSIONS.length)).toEqual(IAM_PERMISSIONS);
    expect(c.filter((p) => p.name === "iam:orgs:read")).toHaveLength(1);
    expect(c.at(-1)?.name).toBe("x:read");
  });

  it("marks only iam:apikeys:verify as platform-wide", () => {
    expect(IAM_PERMISSIONS.filter((p) => p.platform).map((p) => p.name)).toEqual(["iam:apikeys:verify"]);
  });

  it("knows read actions", () => {
    for (const n of ["compute:read", "iam:orgs:read", "x:y:list", "x:get"]) expect(isReadPermission(n)).toBe(true);
    for (const n of ["compute:write", "iam:orgs:delete", "x:readall"]) expect(isReadPermission(n)).toBe(false);
  });
});

describe("compiled patterns", () => {
  it("are held in a bounded cache: patterns clients make up do not grow memory without end", () => {
    for (let i = 0; i < 25_000; i++) expect(matches(`svc${i}:*`, `svc${i}:read`)).toBe(true);
    expect(patternCacheSize()).toBeLessThanOrEqual(10_000);
    expect(matches("compute:*", "compute:disk:read")).toBe(true);
  });
});
