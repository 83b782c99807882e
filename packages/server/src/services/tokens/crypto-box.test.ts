import { describe, expect, it } from "vitest";
import { CryptoBox } from "./crypto-box.js";

describe("CryptoBox", () => {
  const pepper = "a-server-pepper-of-at-least-32-characters";

  it("opens what it sealed, with a fresh IV each time", () => {
    const box = new CryptoBox(pepper, "test");
    const a = box.seal('{"d":"secret"}');
    const b = box.seal('{"d":"secret"}');
    expect(a).not.toBe(b);
    expect(a).not.toContain("secret");
    expect(box.open(a)).toBe('{"d":"secret"}');
  });

  it("refuses another pepper, another purpose, and tampering", () => {
    const sealed = new CryptoBox(pepper, "test").seal("payload");
    expect(() => new CryptoBox(`${pepper}x`, "test").open(sealed)).toThrow();
    expect(() => new CryptoBox(pepper, "other").open(sealed)).toThrow();
    const parts = sealed.split(".");
    parts[3] = `${parts[3][0] === "A" ? "B" : "A"}${parts[3].slice(1)}`;
    expect(() => new CryptoBox(pepper, "test").open(parts.join("."))).toThrow();
    expect(() => new CryptoBox(pepper, "test").open("v2.x.y.z")).toThrow();
  });

  it("refuses a shortened tag, though it is the start of the right one", () => {
    const box = new CryptoBox(pepper, "test");
    const [v, iv, tag, data] = box.seal("payload").split(".");
    const short = Buffer.from(tag, "base64url").subarray(0, 4).toString("base64url");
    expect(() => box.open([v, iv, short, data].join("."))).toThrow();
  });
});
