import { type KeyObject, createHmac, createSecretKey, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LENGTH = 32; // 32 base62 chars ≈ 190 random bits
const CHECK_LENGTH = 6; // 62^6 > 2^32: a CRC32 fits
const START_LENGTH = 8;

/** Maps bytes to base62 without bias (bytes ≥ 248 are skipped); null if they run out. */
function base62FromBytes(bytes: Uint8Array, length: number): string | null {
  let out = "";
  for (const b of bytes) {
    if (b < 248) out += ALPHABET[b % 62];
    if (out.length === length) return out;
  }
  return null;
}

function checksum(prefix: string, body: string): string {
  let n = crc32(`${prefix}_${body}`);
  let out = "";
  for (let i = 0; i < CHECK_LENGTH; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

export interface NewSecret {
  /** The full secret: shown to the user once, never stored. */
  secret: string;
  /** First 8 characters, kept for display. */
  start: string;
}

function assemble(prefix: string, body: string): NewSecret {
  const secret = `${prefix}_${body}${checksum(prefix, body)}`;
  return { secret, start: secret.slice(0, START_LENGTH) };
}

/**
 * A new API key secret: `<prefix>_<32 base62><6 base62 CRC32>`.
 * @example generateSecret("kw").secret // "kw_3kTq…(38 chars)"
 */
export function generateSecret(prefix: string): NewSecret {
  for (;;) {
    const body = base62FromBytes(randomBytes(BODY_LENGTH * 2), BODY_LENGTH);
    if (body) return assemble(prefix, body);
  }
}

/**
 * A secret derived from `material` under the pepper: the same inputs give the same secret.
 * Used so a retried regenerate (same Idempotency-Key) returns the same secret without
 * storing it; `material` must include a stored random nonce.
 */
export function deriveSecret(prefix: string, pepper: string, material: string): NewSecret {
  for (let counter = 0; ; counter++) {
    const bytes = Buffer.concat(
      [0, 1].map((i) => createHmac("sha256", pepper).update(`derive:${counter}:${i}:${material}`).digest()),
    );
    const body = base62FromBytes(bytes, BODY_LENGTH);
    if (body) return assemble(prefix, body);
  }
}

/**
 * Checks a presented secret's shape and checksum, with no I/O. Typos and random strings
 * are rejected here, before any hashing or lookup.
 */
export function isWellFormedSecret(token: string, prefix: string): boolean {
  const expectedLength = prefix.length + 1 + BODY_LENGTH + CHECK_LENGTH;
  if (token.length !== expectedLength || !token.startsWith(`${prefix}_`)) return false;
  const rest = token.slice(prefix.length + 1);
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!ok) return false;
  }
  const body = rest.slice(0, BODY_LENGTH);
  return checksum(prefix, body) === rest.slice(BODY_LENGTH);
}

/** The pepper as a key object, made once: HMAC with a string key re-imports the key on every call. */
let pepperKey: { pepper: string; key: KeyObject } | null = null;
function keyOf(pepper: string): KeyObject {
  if (pepperKey?.pepper !== pepper) pepperKey = { pepper, key: createSecretKey(Buffer.from(pepper)) };
  return pepperKey.key;
}

/** What is stored: HMAC-SHA256(secret) under the server pepper, hex. */
export function hashSecret(secret: string, pepper: string): string {
  return createHmac("sha256", keyOf(pepper)).update(secret).digest("hex");
}
