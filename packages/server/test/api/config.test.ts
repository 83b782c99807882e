import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { newEventId } from "../../src/services/audit.js";

/** Settings read as the README says, and refused (exit 2 at start) when they are not. */
describe("loadConfig", () => {
  const db = (url: string) => () => loadConfig({ KEYWARD_DATABASE_URL: url });

  it("takes a database URL of PostgreSQL, a SQLite path, or sqlite://, and refuses any other scheme", () => {
    expect(db("postgres://u@db:5432/k")().databaseUrl).toBe("postgres://u@db:5432/k");
    expect(db("postgresql://u@db/k")().databaseUrl).toBe("postgresql://u@db/k");
    expect(db("/var/lib/keyward/k.db")().databaseUrl).toBe("/var/lib/keyward/k.db");
    expect(db("sqlite:///var/lib/keyward/k.db")().databaseUrl).toBe("sqlite:///var/lib/keyward/k.db");
    for (const bad of ["postgress://db/k", "mysql://db/k", "POSTGRES://db/k"])
      expect(db(bad), bad).toThrow(ConfigError);
  });

  it("reads yes/no settings in their usual spellings, and refuses a typo", () => {
    for (const [raw, value] of [
      ["Off", false],
      ["0", false],
      ["no", false],
      ["TRUE", true],
      ["on", true],
    ] as const) {
      expect(loadConfig({ KEYWARD_ALLOW_ORG_CREATION: raw }).allowOrgCreation, raw).toBe(value);
    }
    expect(() => loadConfig({ KEYWARD_ALLOW_ORG_CREATION: "flase" })).toThrow(/must be true or false/);
  });
});

describe("audit event ids", () => {
  it("sort in the order they were written, within one millisecond and for centuries to come", () => {
    for (const at of [
      Date.parse("2026-11-25T12:00:00Z"),
      Date.parse("2040-01-01T00:00:00Z"),
      Date.parse("2999-12-31T23:59:59Z"),
    ]) {
      const ids = Array.from({ length: 50 }, () => newEventId(at));
      expect([...ids].sort()).toEqual(ids);
      for (const id of ids) expect(id).toMatch(/^evt_[0-9a-z]{24}$/);
    }
  });
});
