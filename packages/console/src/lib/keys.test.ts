import { describe, expect, it } from "vitest";
import type { ApiKey } from "../api/types";
import { keyStatus, pageOf, searchKeys, sortKeys } from "./keys";

const key = (over: Partial<ApiKey>): ApiKey => ({
  id: "key_1",
  name: "a",
  description: "",
  owner: { type: "user", id: "usr_1" },
  orgId: "org_1",
  defaultProjectId: null,
  permissions: [],
  roles: [],
  readOnly: false,
  allowedProjects: null,
  allowedIps: [],
  expiresAt: null,
  status: "active",
  start: "kw_abcde",
  createdAt: "2026-01-01T00:00:00Z",
  createdBy: "usr_1",
  lastUsedAt: null,
  lastUsedIp: null,
  version: 1,
  ...over,
});
const now = new Date("2026-06-01T00:00:00Z");

describe("keyStatus", () => {
  it("shows disabled, expired and active keys", () => {
    expect(keyStatus(key({ status: "disabled" }), now)).toBe("disabled");
    expect(keyStatus(key({ expiresAt: "2026-05-01T00:00:00Z" }), now)).toBe("expired");
    expect(keyStatus(key({ expiresAt: "2026-07-01T00:00:00Z" }), now)).toBe("active");
  });
});

describe("searchKeys", () => {
  const keys = [
    key({ id: "key_1", name: "billing" }),
    key({ id: "key_2", name: "deploy", allowedIps: ["10.0.0.0/8"] }),
    key({ id: "key_3", name: "x", start: "kw_zzz" }),
  ];
  it("matches name, IPs, start and owner name, case-insensitively", () => {
    expect(searchKeys(keys, "BILL").map((k) => k.id)).toEqual(["key_1"]);
    expect(searchKeys(keys, "10.0.").map((k) => k.id)).toEqual(["key_2"]);
    expect(searchKeys(keys, "kw_zz").map((k) => k.id)).toEqual(["key_3"]);
    expect(searchKeys(keys, "alice", (k) => (k.id === "key_2" ? "Alice" : "")).map((k) => k.id)).toEqual(["key_2"]);
    expect(searchKeys(keys, " ")).toHaveLength(3);
  });
});

describe("sortKeys", () => {
  const keys = [
    key({ id: "a", name: "b", lastUsedAt: null }),
    key({ id: "b", name: "a", lastUsedAt: "2026-02-01T00:00:00Z" }),
    key({ id: "c", name: "C", lastUsedAt: "2026-03-01T00:00:00Z" }),
  ];
  it("sorts by a field in either direction, with blanks last", () => {
    expect(sortKeys(keys, { field: "name", dir: "asc" }).map((k) => k.id)).toEqual(["b", "a", "c"]);
    expect(sortKeys(keys, { field: "lastUsedAt", dir: "asc" }).map((k) => k.id)).toEqual(["b", "c", "a"]);
    expect(sortKeys(keys, { field: "lastUsedAt", dir: "desc" }).map((k) => k.id)).toEqual(["c", "b", "a"]);
  });
});

describe("pageOf", () => {
  it("clamps the page and counts pages", () => {
    const items = Array.from({ length: 45 }, (_, i) => i);
    expect(pageOf(items, 3, 20)).toEqual({ items: [40, 41, 42, 43, 44], pages: 3, page: 3 });
    expect(pageOf(items, 9, 20).page).toBe(3);
    expect(pageOf([], 1, 20)).toEqual({ items: [], pages: 1, page: 1 });
  });
});
