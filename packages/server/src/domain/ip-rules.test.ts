import { describe, expect, it } from "vitest";
import { ipAllowed, normaliseIp, normaliseIpRules, parseIpRule, type IpRule } from "./ip-rules.js";

const rules = (...raw: string[]): IpRule[] => raw.map((r) => parseIpRule(r) as IpRule);

describe("parseIpRule", () => {
  it("accepts IPv4 addresses and CIDRs, clearing host bits", () => {
    expect(parseIpRule("203.0.113.7")).toEqual({ text: "203.0.113.7", family: 4, address: "203.0.113.7", prefix: 32 });
    expect(parseIpRule("10.0.0.7/8")?.text).toBe("10.0.0.0/8");
    expect(parseIpRule("192.168.1.77/24")?.text).toBe("192.168.1.0/24");
    expect(parseIpRule("1.2.3.4/32")?.text).toBe("1.2.3.4");
    expect(parseIpRule("1.2.3.4/0")?.text).toBe("0.0.0.0/0");
    expect(parseIpRule(" 1.2.3.4 ")?.text).toBe("1.2.3.4");
  });

  it("accepts IPv6 addresses and CIDRs in RFC 5952 form", () => {
    expect(parseIpRule("2001:DB8:0:0:1::1/48")?.text).toBe("2001:db8::/48");
    expect(parseIpRule("2001:db8:0:0:0:0:2:1")?.text).toBe("2001:db8::2:1");
    expect(parseIpRule("2001:0db8::0001")?.text).toBe("2001:db8::1");
    expect(parseIpRule("::1")).toMatchObject({ family: 6, prefix: 128, text: "::1" });
    expect(parseIpRule("::/0")?.text).toBe("::/0");
    expect(parseIpRule("fe80::1234/10")?.text).toBe("fe80::/10");
  });

  it("turns IPv4-mapped IPv6 into IPv4, in every spelling", () => {
    expect(parseIpRule("::ffff:1.2.3.4")?.text).toBe("1.2.3.4");
    expect(parseIpRule("::FFFF:1.2.3.4")?.text).toBe("1.2.3.4");
    expect(parseIpRule("0:0:0:0:0:ffff:1.2.3.4")?.text).toBe("1.2.3.4");
    expect(parseIpRule("::ffff:a00:1")?.text).toBe("10.0.0.1");
    // A prefix on a mapped address is ambiguous and refused.
    expect(parseIpRule("::ffff:1.2.3.4/120")).toBeNull();
  });

  it("keeps an embedded dotted quad that is not IPv4-mapped as IPv6 (never collapses it to ::1)", () => {
    expect(parseIpRule("::1.2.3.4")?.text).toBe("::102:304");
    expect(parseIpRule("64:ff9b::192.0.2.33")?.text).toBe("64:ff9b::c000:221");
  });

  it.each([
    "",
    "/",
    "1.2.3.4/",
    "1.2.3.4/33",
    "1.2.3.4/-1",
    "1.2.3.4/1/2",
    "1.2.3.256",
    "1.2.3",
    "01.2.3.4",
    "1.2.3.4/abc",
    "2001:db8::/129",
    "2001:db8:::1",
    "fe80::1%eth0",
    "localhost",
    "1.2.3.4 5",
  ])("rejects %j", (raw) => {
    expect(parseIpRule(raw)).toBeNull();
  });
});

describe("normaliseIp", () => {
  it("normalises request addresses", () => {
    expect(normaliseIp("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(normaliseIp("2001:DB8::0:1")).toBe("2001:db8::1");
    expect(normaliseIp("fe80::1%eth0")).toBe("fe80::1");
    expect(normaliseIp("nonsense")).toBeNull();
    // A zone id is IPv6's only: an IPv4 address with one is not an address.
    expect(normaliseIp("10.1.2.3%eth0")).toBeNull();
    expect(normaliseIp("::ffff:10.1.2.3%eth0")).toBe("10.1.2.3");
  });
});

describe("ipAllowed", () => {
  it("allows everything when there are no rules", () => {
    expect(ipAllowed([], "1.2.3.4")).toBe(true);
    expect(ipAllowed([], null)).toBe(true);
  });

  it("matches IPv4 CIDRs and single addresses", () => {
    const r = rules("10.0.0.0/8", "203.0.113.7");
    expect(ipAllowed(r, "10.255.1.2")).toBe(true);
    expect(ipAllowed(r, "11.0.0.1")).toBe(false);
    expect(ipAllowed(r, "203.0.113.7")).toBe(true);
    expect(ipAllowed(r, "203.0.113.8")).toBe(false);
  });

  it("matches IPv4-mapped request addresses against IPv4 rules", () => {
    expect(ipAllowed(rules("10.0.0.0/8"), "::ffff:10.1.2.3")).toBe(true);
    expect(ipAllowed(rules("10.0.0.0/8"), "::ffff:11.1.2.3")).toBe(false);
  });

  it("matches IPv6 CIDRs and keeps families apart", () => {
    const r = rules("2001:db8::/32");
    expect(ipAllowed(r, "2001:db8:ffff::1")).toBe(true);
    expect(ipAllowed(r, "2001:db9::1")).toBe(false);
    expect(ipAllowed(r, "1.2.3.4")).toBe(false);
    expect(ipAllowed(rules("0.0.0.0/0"), "::1")).toBe(false);
    expect(ipAllowed(rules("::/0"), "::1")).toBe(true);
  });

  it("does not let ::1.2.3.4 rules admit loopback", () => {
    expect(ipAllowed(rules("::1.2.3.4"), "::1")).toBe(false);
    expect(ipAllowed(rules("::1.2.3.4"), "::102:304")).toBe(true);
  });

  it("denies a missing or unparseable address when rules exist", () => {
    expect(ipAllowed(rules("10.0.0.0/8"), null)).toBe(false);
    expect(ipAllowed(rules("10.0.0.0/8"), "garbage")).toBe(false);
  });
});

describe("normaliseIpRules", () => {
  it("normalises and de-duplicates", () => {
    expect(normaliseIpRules(["10.0.0.7/8", "10.1.0.0/8", "::ffff:1.2.3.4", "1.2.3.4"])).toEqual({
      rules: ["10.0.0.0/8", "1.2.3.4"],
    });
  });

  it("names the first invalid entry", () => {
    expect(normaliseIpRules(["1.2.3.4", "nope", "also nope"])).toEqual({ invalidIndex: 1 });
  });
});
