import { describe, expect, it } from "vitest";
import { ipRuleError, isIpRule } from "./ip";

describe("isIpRule", () => {
  it.each([
    "203.0.113.7",
    "203.0.113.0/24",
    "0.0.0.0/0",
    "::1",
    "2001:db8::/32",
    "::ffff:1.2.3.4",
    "fe80::1:2:3:4",
    "1:2:3:4:5:6:7:8",
  ])("accepts %s", (s) => expect(isIpRule(s)).toBe(true));
  it.each([
    "",
    "1.2.3",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3.4/33",
    "2001:db8::/129",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "fe80::1%eth0",
    "10.0.0.0/8/8",
    "host.example",
    "10.0.0.0/x",
  ])("rejects %s", (s) => expect(isIpRule(s)).toBe(false));
});

describe("ipRuleError", () => {
  it("explains empty, invalid and duplicate entries", () => {
    expect(ipRuleError("")).toMatch(/Enter/);
    expect(ipRuleError("nope")).toMatch(/not an IPv4/);
    expect(ipRuleError("10.0.0.1", ["10.0.0.1"])).toMatch(/already/);
    expect(ipRuleError(" 10.0.0.1 ")).toBeNull();
  });
});
