import { describe, expect, it } from "vitest";
import { badTextAt } from "./text.js";

describe("badTextAt", () => {
  it("names the first string holding a NUL or an unpaired surrogate", () => {
    expect(badTextAt({ name: "ok", description: "a\u0000b" })).toBe("description");
    expect(badTextAt({ roles: [{ roleId: "r" }, { roleId: "x\ud800" }] })).toBe("roles/1/roleId");
    expect(badTextAt({ "bad\u0000key": 1 })).toBe("bad\u0000key");
    expect(badTextAt("\udc00")).toBe("");
  });

  it("lets through everything else, paired surrogates (emoji) and other control characters included", () => {
    expect(badTextAt({ name: "key 🔑 \u202e\u0007", n: 3, ok: true, none: null, list: [] })).toBeNull();
    expect(badTextAt(undefined)).toBeNull();
    let deep: unknown = "x";
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(badTextAt(deep)).toBeNull(); // no stack to overflow
  });
});
