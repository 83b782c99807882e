import { describe, expect, it } from "vitest";
import {
  type KeyFormValues,
  endOfDay,
  expiryError,
  maxExpiry,
  nameError,
  passwordErrors,
  rateLimitBody,
  rateLimitError,
  rateLimitValue,
  validateKeyForm,
} from "./validation";
import { rateLimitText } from "./format";
import { isRead } from "./permissions";

const now = new Date("2026-06-01T12:00:00Z");
const base: KeyFormValues = {
  name: "ci",
  description: "",
  ownerType: "me",
  ownerId: null,
  expires: false,
  expiresOn: null,
  allowedIps: [],
  allowedProjects: [],
  readOnly: false,
  permissions: [],
  ratelimit: rateLimitValue(null),
};
const policy = {
  restrictKeyCreation: false,
  requireExpiry: false,
  maxKeyLifetimeDays: null,
  maxKeysPerUser: null,
  allowedIps: [],
  inviterManagesKeys: false,
};

describe("nameError", () => {
  it("requires a non-blank name of at most 100 characters", () => {
    expect(nameError("")).toMatch(/required/);
    expect(nameError("   ")).toMatch(/required/);
    expect(nameError("x".repeat(101))).toMatch(/100/);
    expect(nameError("x".repeat(100))).toBeNull();
  });
});

describe("expiryError", () => {
  it("allows no expiry unless the org requires one", () => {
    expect(expiryError(null, policy, now)).toBeNull();
    expect(expiryError(null, { ...policy, requireExpiry: true }, now)).toMatch(/requires/);
    expect(expiryError(null, { ...policy, maxKeyLifetimeDays: 30 }, now)).toMatch(/requires/);
  });
  it("rejects past dates and dates beyond the org's maximum lifetime", () => {
    expect(expiryError(new Date("2026-05-01"), policy, now)).toMatch(/future/);
    expect(expiryError(new Date("2026-08-01"), { ...policy, maxKeyLifetimeDays: 30 }, now)).toMatch(/30 days/);
    expect(expiryError(new Date("2026-06-20"), { ...policy, maxKeyLifetimeDays: 30 }, now)).toBeNull();
  });
  it("rejects an unparsable date", () => {
    expect(expiryError(endOfDay("nope"), policy, now)).toMatch(/valid/);
  });
  it("computes the latest allowed expiry", () => {
    expect(maxExpiry({ maxKeyLifetimeDays: 1 }, now)?.toISOString()).toBe("2026-06-02T12:00:00.000Z");
    expect(maxExpiry({ maxKeyLifetimeDays: null }, now)).toBeNull();
  });
});

describe("validateKeyForm", () => {
  it("accepts a minimal form", () => {
    expect(validateKeyForm(base, { policy, now })).toEqual({});
  });
  it("reports every bad field", () => {
    const errors = validateKeyForm(
      {
        ...base,
        name: "",
        ownerType: "service_account",
        expires: true,
        expiresOn: "2020-01-01",
        allowedIps: ["10.0.0.0/33"],
      },
      { policy, now },
    );
    expect(Object.keys(errors).sort()).toEqual(["allowedIps", "expiresOn", "name", "ownerId"]);
  });
  it("refuses duplicate IP rules", () => {
    expect(validateKeyForm({ ...base, allowedIps: ["10.0.0.1", "10.0.0.1"] }, { policy, now }).allowedIps).toMatch(
      /already/,
    );
  });
  it("refuses permissions the caller may not grant", () => {
    const e = validateKeyForm(
      { ...base, permissions: ["compute:read", "storage:delete"] },
      { policy, now, allowed: ["compute:read"] },
    );
    expect(e.permissions).toMatch(/storage:delete/);
  });
  it("refuses write permissions on a read-only key", () => {
    const e = validateKeyForm(
      { ...base, readOnly: true, permissions: ["compute:read", "compute:write"] },
      { policy, now, readOnlyOf: isRead },
    );
    expect(e.permissions).toMatch(/compute:write/);
  });
  it("enforces the org's expiry policy", () => {
    const strict = { ...policy, requireExpiry: true };
    expect(validateKeyForm(base, { policy: strict, now }).expiresOn).toMatch(/requires/);
    expect(validateKeyForm({ ...base, expires: true, expiresOn: "2026-07-01" }, { policy: strict, now })).toEqual({});
  });
});

describe("passwordErrors", () => {
  it("needs the current password, 12+ characters, a change and a matching repeat", () => {
    expect(passwordErrors({ currentPassword: "", newPassword: "short", confirm: "x" })).toEqual({
      currentPassword: expect.any(String),
      newPassword: expect.stringMatching(/12/),
      confirm: expect.any(String),
    });
    expect(
      passwordErrors({ currentPassword: "same-password-1", newPassword: "same-password-1", confirm: "same-password-1" })
        .newPassword,
    ).toMatch(/different/);
    expect(
      passwordErrors({ currentPassword: "a", newPassword: "long-enough-pass", confirm: "long-enough-pass" }),
    ).toEqual({});
  });
});

describe("rate limit", () => {
  it("is off for a key without one, and round-trips a key's own", () => {
    expect(rateLimitValue(null).on).toBe(false);
    expect(rateLimitBody(rateLimitValue(null))).toBeNull();
    const r = { limit: 500, windowSeconds: 3600 };
    expect(rateLimitBody(rateLimitValue(r))).toEqual(r);
    expect(rateLimitText(r)).toBe("500 requests per 3,600 s");
    expect(rateLimitText({ limit: 1, windowSeconds: 1 })).toBe("1 request per 1 s");
    expect(rateLimitText(null)).toBe("None");
  });

  it("takes whole numbers within the API's bounds, and says which is wrong", () => {
    const on = (limit: number | string, windowSeconds: number | string) => ({ on: true, limit, windowSeconds });
    expect(rateLimitError(on(100, 60))).toBeNull();
    expect(rateLimitError(on(1_000_000_000, 86_400))).toBeNull();
    for (const limit of ["", 0, 1.5, 1_000_000_001]) expect(rateLimitError(on(limit, 60))).toMatch(/^Requests/);
    for (const w of ["", 0, 2.5, 86_401]) expect(rateLimitError(on(10, w))).toMatch(/^The window/);
    // Off, whatever was typed before switching it off.
    expect(rateLimitError({ on: false, limit: "", windowSeconds: 0 })).toBeNull();
    expect(validateKeyForm({ ...base, ratelimit: on(0, 60) }, { now }).ratelimit).toMatch(/^Requests/);
  });
});
