import { isIP } from "node:net";
import Type from "typebox";

/** An IPv4/IPv6 address or CIDR, as a string; parsed and normalised by `parseIpRule`. */
export const ipRuleSchema = Type.String({ minLength: 2, maxLength: 64, examples: ["203.0.113.0/24"] });

export interface IpRule {
  /** Normalised text: `addr/prefix` (prefix omitted for a single address). */
  text: string;
  family: 4 | 6;
  address: string;
  prefix: number;
}

/**
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`, in any spelling) becomes plain IPv4 so it meets IPv4 rules.
 * An IPv6 zone id (`fe80::1%eth0`) is dropped; IPv4 has none (RFC 4007), so `1.2.3.4%eth0` is refused,
 * as is a zone that is no interface name (`fe80::1%<script>`, or 100 characters of anything).
 */
/** What an interface name looks like (Linux allows 15 characters). */
const ZONE_ID = /^[0-9A-Za-z._-]{1,15}$/;

export function normaliseIp(ip: string): string | null {
  let s = ip.trim();
  const zone = s.indexOf("%");
  if (zone >= 0) {
    if (!ZONE_ID.test(s.slice(zone + 1))) return null;
    s = s.slice(0, zone);
  }
  const family = isIP(s);
  if (family === 0 || (family === 4 && zone >= 0)) return null;
  if (family === 4) return s;
  const g = v6Groups(s);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return [g[6] >> 8, g[6] & 255, g[7] >> 8, g[7] & 255].join(".");
  }
  return canonicalV6(g);
}

/** The eight 16-bit groups of a valid IPv6 address; a trailing dotted quad counts as two. */
function v6Groups(address: string): number[] {
  let s = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    s = `${s.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.map((x) => Number.parseInt(x, 16));
}

/** RFC 5952 text form: lower-case, no leading zeros, the longest zero run compressed. */
function canonicalV6(groups: number[]): string {
  const parts = groups.map((g) => g.toString(16));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return parts.join(":");
  return `${parts.slice(0, best).join(":")}::${parts.slice(best + bestLen).join(":")}`;
}

/** Parses `addr` or `addr/prefix`; null when invalid. Host bits of a CIDR are cleared. */
export function parseIpRule(raw: string): IpRule | null {
  const [addrPart, prefixPart, extra] = raw.trim().split("/");
  if (extra !== undefined || !addrPart || addrPart.includes("%")) return null;
  const address = normaliseIp(addrPart);
  if (!address) return null;
  const family = isIP(address) as 4 | 6;
  // A prefix on an IPv4-mapped address is ambiguous (IPv6 or IPv4 bits?): refuse it.
  if (family === 4 && isIP(addrPart) === 6 && prefixPart !== undefined) return null;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixPart !== undefined) {
    if (!/^\d{1,3}$/.test(prefixPart)) return null;
    prefix = Number(prefixPart);
    if (prefix > max) return null;
  }
  const network = maskAddress(address, family, prefix);
  return { text: prefix === max ? network : `${network}/${prefix}`, family, address: network, prefix };
}

function toBigInt(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split(".").reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  return v6Groups(address).reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function fromBigInt(n: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => ((n >> s) & 255n).toString()).join(".");
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  return canonicalV6(groups);
}

function maskAddress(address: string, family: 4 | 6, prefix: number): string {
  const bits = family === 4 ? 32 : 128;
  const value = toBigInt(address, family);
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return fromBigInt(value & mask, family);
}

/** Does `ip` fall inside any of `rules`? An empty rule list allows every address. */
export function ipAllowed(rules: readonly IpRule[], ip: string | null): boolean {
  if (rules.length === 0) return true;
  if (!ip) return false;
  const addr = normaliseIp(ip);
  if (!addr) return false;
  const family = isIP(addr) as 4 | 6;
  const value = toBigInt(addr, family);
  return rules.some((r) => {
    if (r.family !== family) return false;
    const bits = family === 4 ? 32 : 128;
    const shift = BigInt(bits - r.prefix);
    return value >> shift === toBigInt(r.address, family) >> shift;
  });
}

/** Parses stored (already normalised) IP rules; anything unparseable is dropped. */
export function parseRules(list: readonly string[] | null): IpRule[] {
  const out: IpRule[] = [];
  for (const s of list ?? []) {
    const r = parseIpRule(s);
    if (r) out.push(r);
  }
  return out;
}

/** Does every address `inner` matches fall inside `outer`? */
export function ipRuleWithin(inner: IpRule, outer: IpRule): boolean {
  if (inner.family !== outer.family || inner.prefix < outer.prefix) return false;
  return maskAddress(inner.address, inner.family, outer.prefix) === outer.address;
}

/** Whether allow list `after` admits an address `before` did not (empty or null: any address). */
export function ipListLoosened(before: readonly string[] | null, after: readonly string[] | null): boolean {
  const was = parseRules(before);
  if (was.length === 0) return false;
  const now = parseRules(after);
  return now.length === 0 || !now.every((r) => was.some((w) => ipRuleWithin(r, w)));
}

/**
 * Normalises a list of rules; returns the index of the first invalid one instead when any.
 * @example normaliseIpRules(["10.0.0.7/8"]) // { rules: ["10.0.0.0/8"] }
 */
export function normaliseIpRules(raw: readonly string[]): { rules: string[] } | { invalidIndex: number } {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const rule = parseIpRule(raw[i]);
    if (!rule) return { invalidIndex: i };
    if (!out.includes(rule.text)) out.push(rule.text);
  }
  return { rules: out };
}
