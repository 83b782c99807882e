import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { deriveSecret, generateSecret, hashSecret, holdsCredential, holdsJwt, isWellFormedSecret } from "./secret.js";

describe("API key secrets", () => {
  it("has the documented shape and a valid checksum", () => {
    const { secret, start } = generateSecret("kw");
    expect(secret).toMatch(/^kw_[0-9A-Za-z]{38}$/);
    expect(start).toBe(secret.slice(0, 8));
    expect(isWellFormedSecret(secret, "kw")).toBe(true);
  });

  it("rejects a one-character typo by checksum", () => {
    const { secret } = generateSecret("kw");
    const i = 10;
    const typo = secret.slice(0, i) + (secret[i] === "a" ? "b" : "a") + secret.slice(i + 1);
    expect(isWellFormedSecret(typo, "kw")).toBe(false);
  });

  it("rejects wrong prefix, length and characters", () => {
    const { secret } = generateSecret("kw");
    expect(isWellFormedSecret(secret, "xx")).toBe(false);
    expect(isWellFormedSecret(`${secret}a`, "kw")).toBe(false);
    expect(isWellFormedSecret(secret.replace(/.$/, "-"), "kw")).toBe(false);
  });

  it("accepts every generated secret and rejects a change to any one of its characters", () => {
    for (let n = 0; n < 500; n++) expect(isWellFormedSecret(generateSecret("kw").secret, "kw")).toBe(true);
    const { secret } = generateSecret("acme");
    for (let i = 0; i < secret.length; i++) {
      const other = secret[i] === "7" ? "8" : "7";
      expect(isWellFormedSecret(secret.slice(0, i) + other + secret.slice(i + 1), "acme"), `position ${i}`).toBe(false);
    }
  });

  it("never repeats across many draws", () => {
    const seen = new Set(Array.from({ length: 2000 }, () => generateSecret("kw").secret));
    expect(seen.size).toBe(2000);
  });

  it("derives the same secret from the same material, another from other material", () => {
    const a = deriveSecret("kw", "pepper", "nonce-1");
    expect(deriveSecret("kw", "pepper", "nonce-1").secret).toBe(a.secret);
    expect(deriveSecret("kw", "pepper", "nonce-2").secret).not.toBe(a.secret);
    expect(deriveSecret("kw", "other-pepper", "nonce-1").secret).not.toBe(a.secret);
    expect(isWellFormedSecret(a.secret, "kw")).toBe(true);
  });

  it("hashes with the pepper", () => {
    expect(hashSecret("kw_x", "p1")).not.toBe(hashSecret("kw_x", "p2"));
    // The same HMAC as with the pepper given as text, whichever pepper was used last.
    for (const pepper of ["p1", "p2", "pépper", "p1"])
      expect(hashSecret("kw_x", pepper)).toBe(createHmac("sha256", pepper).update("kw_x").digest("hex"));
    expect(hashSecret("kw_x", "p1")).toMatch(/^[0-9a-f]{64}$/);
  });

  it("is HMAC-SHA256 for any pepper and message length", () => {
    const peppers = ["", "p", "x".repeat(64), "y".repeat(65), "ключ-".repeat(20)];
    const messages = ["", "kw_x", "é€😀", "m".repeat(341), "m".repeat(342), "€".repeat(400), "z".repeat(5000)];
    for (const pepper of peppers)
      for (const m of messages)
        expect(hashSecret(m, pepper), `${pepper.length}/${m.length}`).toBe(
          createHmac("sha256", pepper).update(m).digest("hex"),
        );
    // A long message after a short one: nothing of the earlier one is left in the scratch buffer.
    expect(hashSecret("ab", "p")).toBe(createHmac("sha256", "p").update("ab").digest("hex"));
  });

  it("finds a secret or a JWT anywhere in a text, and nothing that only looks like one", () => {
    const kw = generateSecret("kw").secret;
    const acme = generateSecret("acme").secret;
    expect(holdsCredential(kw, ["kw"])).toBe(true);
    expect(holdsCredential(`my key: ${kw}.`, ["kw"])).toBe(true);
    expect(holdsCredential(`x${kw}x`, ["kw"])).toBe(true); // glued to other text, still the secret
    expect(holdsCredential(`old ${acme}`, ["kw", "acme"])).toBe(true);
    expect(holdsCredential(`old ${acme}`, ["kw"])).toBe(false); // not a prefix this server accepts
    expect(holdsCredential(`${kw.slice(0, -1)}${kw.endsWith("0") ? "1" : "0"}`, ["kw"])).toBe(false);
    expect(holdsCredential("kw_kw_kw_kw_kw_kw_kw_kw_kw_kw_kw_kw_kw_kw_kw_kw", ["kw"])).toBe(false);
    expect(holdsCredential("usr_0123456789abcdefghijklmn prj_0123456789abcdefghijklmn", ["kw", "usr"])).toBe(false);
    expect(holdsCredential("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJrZXlfMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ", ["kw"])).toBe(true);
    expect(holdsCredential("eyJ in a sentence. eyJ again.", ["kw"])).toBe(false);
  });

  it("finds a JWT as the regular expression would, in time linear in the text", () => {
    const JWT = /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}/;
    const alphabet = [
      "eyJ",
      "eyJxxxxxxxxxx",
      "e",
      "y",
      "J",
      "a",
      "-",
      "_",
      ".",
      ".",
      " ",
      "x".repeat(10),
      "b".repeat(20),
    ];
    let found = 0;
    for (let n = 0; n < 20_000; n++) {
      let text = "";
      const parts = 1 + (n % 30);
      for (let i = 0; i < parts; i++) text += alphabet[Math.floor(Math.random() * alphabet.length)];
      expect(holdsJwt(text), JSON.stringify(text)).toBe(JWT.test(text));
      if (JWT.test(text)) found++;
    }
    expect(found).toBeGreaterThan(10); // the texts drawn include JWTs, not only misses
    // What made the regular expression take seconds (2.4 s for 60 KB, growing with the square of
    // the length): 600 KB of it would take minutes, past this test's timeout, where one pass
    // takes milliseconds.
    for (const hostile of [
      "eyJ".repeat(200_000),
      `${"eyJ".repeat(200_000)}.`,
      `eyJaaaaaaaaaaaa.${"eyJ".repeat(200_000)}`,
    ]) {
      expect(holdsJwt(hostile)).toBe(false);
      expect(holdsCredential(hostile, ["kw", "eyJ"])).toBe(false);
    }
  });
});
