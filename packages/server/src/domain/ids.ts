import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * Random base62 string from the CSPRNG, without modulo bias (rejection sampling).
 * @example randomBase62(32) // "3kTq…" (≈ 190 bits)
 */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 62 * 4: bytes at or above it would bias the first symbols.
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export type IdPrefix = "org" | "prj" | "usr" | "sa" | "role" | "rb" | "inv" | "key" | "req" | "evt" | "sess";

/** Prefixed identifier: 24 base62 chars ≈ 142 random bits. @example newId("org") // "org_…" */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBase62(24)}`;
}

/**
 * Whether `s` has the shape of an id with `prefix` (base62 after it, of any length an id of
 * this or an earlier version had): one that does not names nothing, so it need not be looked up.
 * @example looksLikeId("prj", "prj_\u0000") // false
 */
export const looksLikeId = (prefix: IdPrefix, s: string) =>
  s.length <= prefix.length + 41 && s.startsWith(`${prefix}_`) && /^[0-9A-Za-z]+$/.test(s.slice(prefix.length + 1));

/**
 * Request ids (`req_` + 24 base62 chars, the shape of every id), cheap enough for every
 * request: a random part drawn once per process and a counter. They correlate logs, problems
 * and audit events; they are not secrets.
 * @example const next = requestIds(); next() // "req_3kTq9ZbV0aQw000000000001"
 */
export function requestIds(): () => string {
  const base = `req_${randomBase62(12)}`;
  let n = 0;
  return () => base + (n++).toString(36).padStart(12, "0");
}
