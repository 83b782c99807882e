import { BlockList, isIP } from "node:net";

/** IPv4-mapped IPv6 addresses (`::ffff:203.0.113.7`): IPv4 clients of a dual-stack server. */
const MAPPED = new BlockList();
MAPPED.addSubnet("::ffff:0:0", 96, "ipv6");

/**
 * A client address as Keyward reads one, or null when it is none: surrounding whitespace, an
 * IPv6 zone id, and the port or brackets some proxies write into `X-Forwarded-For`
 * (`203.0.113.7:50312`, `[2001:db8::1]:443`) are dropped.
 * @example readAddress("203.0.113.7:50312") // "203.0.113.7"
 */
export function readAddress(raw: string | undefined | null): string | null {
  let s = raw?.trim() ?? "";
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed) s = bracketed[1];
  else if (/^[\d.]+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(":"));
  s = s.replace(/%.*$/, "");
  return isIP(s) === 0 ? null : s;
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
