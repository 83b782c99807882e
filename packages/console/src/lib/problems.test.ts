import { describe, expect, it } from "vitest";
import { ApiError, csrfToken } from "../api/client";
import { auditQuery, auditRow } from "./audit";
import { fieldErrors, formErrors, unclaimedErrors } from "./problems";
import { usageBuckets } from "./usage";

describe("fieldErrors", () => {
  it("maps problem+json paths to form fields", () => {
    const errors = [
      { path: "name", code: "minLength", message: "too short" },
      { path: "/allowedIps/1", code: "ip", message: "bad ip" },
      { path: "allowedIps/2", code: "ip", message: "second" },
      { path: "owner/id", code: "x", message: "unknown owner" },
    ];
    expect(fieldErrors(errors)).toEqual({ name: "too short", allowedIps: "bad ip", owner: "unknown owner" });
    expect(unclaimedErrors(errors, ["name", "allowedIps"])).toEqual(["owner: unknown owner"]);
  });
});

describe("csrfToken", () => {
  it("reads the kw_csrf cookie", () => {
    expect(csrfToken("a=1; kw_csrf=abc%3D; b=2")).toBe("abc=");
    expect(csrfToken("a=1")).toBeNull();
  });
});

describe("usageBuckets", () => {
  it("accepts several shapes", () => {
    expect(usageBuckets({ items: [{ hour: "2026-01-01T00:00:00Z", count: 3 }] })).toEqual([
      { time: "2026-01-01T00:00:00Z", count: 3 },
    ]);
    expect(usageBuckets({ buckets: [{ start: "t", valid: 2, invalid: 1 }] })).toEqual([{ time: "t", count: 3 }]);
    expect(usageBuckets(null)).toEqual([]);
  });
});

describe("audit", () => {
  it("flattens events and builds filter queries", () => {
    expect(
      auditRow({
        id: "evt_1",
        createdAt: "t",
        actor: { type: "user", id: "usr_1", credential: "tok_1", key: "key_9" },
        action: "api_key.create",
        target: { type: "api_key", id: "key_1" },
        result: "success",
        ip: "127.0.0.1",
      }),
    ).toEqual({
      id: "evt_1",
      at: "t",
      actor: "usr_1",
      via: "key_9",
      action: "api_key.create",
      target: "api_key key_1",
      result: "success",
      ip: "127.0.0.1",
    });
    expect(auditQuery({ actor: " usr_1 ", action: "", target: "", from: null, to: null })).toEqual({ actor: "usr_1" });
  });
});

describe("formErrors", () => {
  it("puts field messages under their field and no form message", () => {
    const err = new ApiError(400, "INVALID_REQUEST", "Invalid request", [
      { path: "/name", code: "maxLength", message: "too long" },
    ]);
    expect(formErrors(err)).toEqual({ name: "too long", form: undefined });
  });
  it("uses the problem detail when no field is named", () => {
    expect(formErrors(new ApiError(403, "FORBIDDEN", "Missing permission iam:projects:create"))).toEqual({
      form: "Missing permission iam:projects:create",
    });
  });
  it("says something when the request never got an API answer", () => {
    expect(formErrors(new TypeError("fetch failed")).form).toMatch(/request failed/);
  });
});
