import { BlockList, isIP } from "node:net";

/** IPv4-mapped IPv6 addresses (`::ffff:203.0.113.7`): IPv4 clients of a dual-stack server. */
const MAPPED = new BlockList();
MAPPED.addSubnet("::ffff:0:0", 96, "ipv6");

/** What an interface name looks like (Linux allows 15 characters), as Keyward reads a zone id. */
const ZONE_ID = /^[0-9A-Za-z._-]{1,15}$/;

/**
 * An address as Keyward reads one, or null when it is none: surrounding whitespace and an IPv6
 * zone id (`fe80::1%eth0`) are dropped; a zone on IPv4, or one that is no interface name, makes
 * it none.
 * @example readAddress(" fe80::1%eth0 ") // "fe80::1"
 */
export function readAddress(raw: string | undefined | null): string | null {
  let s = raw?.trim() ?? "";
  const zone = s.indexOf("%");
  if (zone >= 0) {
    if (!ZONE_ID.test(s.slice(zone + 1))) return null;
    s = s.slice(0, zone);
  }
  const family = isIP(s);
  return family === 0 || (family === 4 && zone >= 0) ? null : s;
}

/**
 * A client address as a request names it (`req.ip`, which a trusting framework takes from
 * `X-Forwarded-For`), without the port or brackets some proxies write there
 * (`203.0.113.7:50312`, `[2001:db8::1]:443`); null when it is no address.
 * @example forwardedAddress("203.0.113.7:50312") // "203.0.113.7"
 */
export function forwardedAddress(raw: string | undefined | null): string | null {
  const s = raw?.trim() ?? "";
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed) return readAddress(bracketed[1]);
  if (/^[\d.]+:\d+$/.test(s)) return readAddress(s.slice(0, s.lastIndexOf(":")));
  return readAddress(s);
}

/**
 * Whether an IP allow list carried in a token (`ips`, `org_ips`: addresses and CIDRs as Keyward
 * writes them) admits `ip`, as Keyward decides: an absent or empty list admits any address; a
 * list admits no request whose address is unknown or unreadable; a rule admits only addresses
 * of its own family, an IPv4-mapped IPv6 address (what a dual-stack server reports for an IPv4
 * client) counting as IPv4 (so `::/0` admits no IPv4 client).
 * @example ipAdmitted(["203.0.113.0/24"], "::ffff:203.0.113.7") // true
 */
export function ipAdmitted(list: unknown, ip: string | undefined): boolean {
  if (!Array.isArray(list) || list.length === 0) return true;
  const address = readAddress(ip);
  if (!address) return false;
  const v4 = isIP(address) === 4 || MAPPED.check(address, "ipv6");
  const rules = new BlockList();
  try {
    for (const rule of list) {
      const [net, prefix] = String(rule).split("/");
      const family = isIP(net);
      if (family !== (v4 ? 4 : 6)) continue; // the other family's rules admit none of this one
      const type = family === 4 ? "ipv4" : "ipv6";
      if (prefix === undefined) rules.addAddress(net, type);
      else rules.addSubnet(net, Number(prefix), type);
    }
  } catch {
    return false; // a rule it cannot read admits nothing (Keyward signs none such)
  }
  // A mapped address meets IPv4 rules as the IPv4 address it carries.
  return rules.check(address, isIP(address) === 4 ? "ipv4" : "ipv6");
}
