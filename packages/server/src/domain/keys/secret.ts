import { createHmac, hash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";

/**
 * The longest credential Keyward takes anywhere (an `Authorization` header, `/v1/verify`'s
 * `key`, introspection's `token`): a token that would carry more permissions than fit is
 * refused at exchange, so every token issued is one Keyward accepts.
 */
export const MAX_CREDENTIAL_LENGTH = 8192;

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
  // Compared in place, without building strings: this runs before every verification.
  const bodyAt = prefix.length + 1;
  const checkAt = bodyAt + BODY_LENGTH;
  if (token.length !== checkAt + CHECK_LENGTH || !token.startsWith(prefix) || token.charCodeAt(prefix.length) !== 95)
    return false; // 95: "_"
  for (let i = bodyAt; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!ok) return false;
  }
  // The checksum's base62 digits, as `checksum` writes them, from the last one back.
  let n = crc32(token.slice(0, checkAt));
  for (let i = token.length - 1; i >= checkAt; i--) {
    if (token.charCodeAt(i) !== ALPHABET.charCodeAt(n % 62)) return false;
    n = Math.floor(n / 62);
  }
  return true;
}

/** {@link isWellFormedSecret} under any of `prefixes` (the current one first). */
export function isWellFormedSecretOf(token: string, prefixes: readonly string[]): boolean {
  for (let i = 0; i < prefixes.length; i++) if (isWellFormedSecret(token, prefixes[i])) return true;
  return false;
}

const isBase64url = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;

/** An "eyJ" in text[from, last] (last: the latest index it may start at). */
function eyJAt(text: string, from: number, last: number): boolean {
  for (let j = from; j <= last; j++)
    if (text.charCodeAt(j) === 101 && text.charCodeAt(j + 1) === 121 && text.charCodeAt(j + 2) === 74) return true;
  return false;
}

/**
 * Whether `text` holds a JWT: a JSON header and payload (base64url of `{"`, 13 characters or
 * more each), then a signature of 20 or more, joined by dots. What
 * `/eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}/` finds, in one pass over the text: that regular
 * expression took time growing with the square of the text ("eyJeyJ…": 2.4 s for 60 KB), and
 * this runs on every string of every request, signed in or not.
 */
export function holdsJwt(text: string): boolean {
  let header = false; // the run before the dot just read can be a header
  let payload = false; // a header, a dot, then a run that can be a payload, and a dot just read
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : -1;
    if (isBase64url(c)) continue;
    // The run text[start, i) ends here, at `c`.
    const length = i - start;
    if (payload && length >= 20) return true;
    const dot = c === 46;
    payload = dot && header && length >= 13 && eyJAt(text, start, start);
    header = dot && length >= 13 && eyJAt(text, start, i - 13);
    start = i + 1;
  }
  return false;
}

/**
 * Whether `text` holds a credential anywhere in it: an API key secret under any of `prefixes`
 * (its checksum right, so no name that merely looks like one), or a JWT such as an exchanged
 * token. A key pasted into a name or a description would be stored, audited and shown to
 * everyone who can read it.
 * @example holdsCredential("prod key kw_3kTq…(38 chars)", ["kw"]) // true
 */
export function holdsCredential(text: string, prefixes: readonly string[]): boolean {
  if (text.length < BODY_LENGTH + CHECK_LENGTH + 2) return false;
  for (const prefix of prefixes) {
    const length = prefix.length + 1 + BODY_LENGTH + CHECK_LENGTH;
    for (
      let at = text.indexOf(`${prefix}_`);
      at >= 0 && at + length <= text.length;
      at = text.indexOf(`${prefix}_`, at + 1)
    ) {
      if (isWellFormedSecret(text.slice(at, at + length), prefix)) return true;
    }
  }
  return holdsJwt(text);
}

/** SHA-256 block size: HMAC pads its key to this many bytes. */
const BLOCK = 64;
/** Longest message (bytes) hashed through the scratch buffer; longer ones take `createHmac`. */
const SCRATCH_MESSAGE = 1024;

interface PepperPads {
  pepper: string;
  /** `key XOR ipad`, followed by room for the message. */
  inner: Buffer;
  /** `key XOR opad`, followed by room for the inner digest. */
  outer: Buffer;
  /** The last message length seen (bytes) and the view of `inner` it hashes (secrets have one length). */
  viewLength: number;
  view: Buffer;
}

let pads: PepperPads | null = null;
function padsOf(pepper: string): PepperPads {
  if (pads?.pepper === pepper) return pads;
  let key = Buffer.from(pepper);
  if (key.length > BLOCK) key = hash("sha256", key, "buffer");
  const inner = Buffer.alloc(BLOCK + SCRATCH_MESSAGE);
  const outer = Buffer.alloc(BLOCK + 32);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = (key[i] ?? 0) ^ 0x36;
    outer[i] = (key[i] ?? 0) ^ 0x5c;
  }
  pads = { pepper, inner, outer, viewLength: 0, view: inner.subarray(0, BLOCK) };
  return pads;
}

/**
 * What is stored: HMAC-SHA256(secret) under the server pepper, hex.
 *
 * Computed as RFC 2104 defines it, from two one-shot SHA-256 calls over buffers padded once
 * per pepper, with no buffer allocated per call (the inner digest passes as a "binary" (latin1) string):
 * `createHmac` builds a native HMAC context (and fetches the digest) on every call, which
 * made it the largest single cost of a warm verification. The tests check it against
 * `createHmac`.
 */
export function hashSecret(secret: string, pepper: string): string {
  const p = padsOf(pepper);
  // UTF-8 takes at most 3 bytes per UTF-16 unit: anything that might not fit goes the long way.
  if (secret.length * 3 > SCRATCH_MESSAGE) return createHmac("sha256", pepper).update(secret).digest("hex");
  const n = p.inner.write(secret, BLOCK, "utf8");
  if (n !== p.viewLength) {
    p.viewLength = n;
    p.view = p.inner.subarray(0, BLOCK + n);
  }
  p.outer.write(hash("sha256", p.view, "binary"), BLOCK, "binary");
  return hash("sha256", p.outer, "hex");
}
