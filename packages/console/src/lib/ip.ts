/** Browser-side IP rule checks (the server normalises again; this is for inline feedback). */

function isIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255 && !/^0\d/.test(p));
}

function isIPv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return false;
  let body = s;
  let groupsFromV4 = 0;
  const lastColon = body.lastIndexOf(":");
  const tail = body.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (!isIPv4(tail)) return false;
    body = `${body.slice(0, lastColon + 1)}0`;
    groupsFromV4 = 1;
  }
  const halves = body.split("::");
  if (halves.length > 2) return false;
  const group = (g: string) => /^[0-9a-fA-F]{1,4}$/.test(g);
  const parts = (h: string) => (h === "" ? [] : h.split(":"));
  if (halves.length === 2) {
    const [a, b] = halves.map(parts);
    if (![...a, ...b].every(group)) return false;
    return a.length + b.length + groupsFromV4 <= 7;
  }
  const all = parts(body);
  return all.length + groupsFromV4 === 8 && all.every(group);
}

/** Is `raw` an IPv4/IPv6 address or CIDR the server will accept? */
export function isIpRule(raw: string): boolean {
  const s = raw.trim();
  if (!s || s.length > 64 || s.includes("%")) return false;
  const [addr, prefix, extra] = s.split("/");
  if (extra !== undefined) return false;
  const v4 = isIPv4(addr);
  if (!v4 && !isIPv6(addr)) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (v4 ? 32 : 128);
}

/** Inline message for one rule, or null when it is fine. */
export function ipRuleError(raw: string, existing: readonly string[] = []): string | null {
  const s = raw.trim();
  if (!s) return "Enter an IP address or CIDR";
  if (!isIpRule(s)) return `"${s}" is not an IPv4/IPv6 address or CIDR (e.g. 203.0.113.0/24)`;
  if (existing.includes(s)) return `${s} is already in the list`;
  return null;
}
