import { BlockList, isIP } from "node:net";

/**
 * Whether an IP allow list carried in a token (`ips`, `org_ips`: addresses and CIDRs as Keyward
 * writes them) admits `ip`. An absent or empty list admits any address; a list admits no request
 * whose address is unknown or unreadable, as Keyward decides. IPv4-mapped IPv6 addresses
 * (`::ffff:203.0.113.7`, what a dual-stack server reports) meet IPv4 rules.
 * @example ipAdmitted(["203.0.113.0/24"], "::ffff:203.0.113.7") // true
 */
export function ipAdmitted(list: unknown, ip: string | undefined): boolean {
  if (!Array.isArray(list) || list.length === 0) return true;
  const address = ip?.replace(/%.*$/, ""); // an IPv6 zone id names an interface, not an address
  const family = address ? isIP(address) : 0;
  if (!address || family === 0) return false;
  const rules = new BlockList();
  try {
    for (const rule of list) {
      const [net, prefix] = String(rule).split("/");
      const type = isIP(net) === 4 ? "ipv4" : "ipv6";
      if (prefix === undefined) rules.addAddress(net, type);
      else rules.addSubnet(net, Number(prefix), type);
    }
  } catch {
    return false; // a rule it cannot read admits nothing (Keyward signs none such)
  }
  return rules.check(address, family === 4 ? "ipv4" : "ipv6");
}
