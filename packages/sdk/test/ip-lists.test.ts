import { describe, expect, it } from "vitest";
import { forwardedAddress, ipAdmitted, readAddress } from "../src/ip-lists.js";

describe("IP allow lists of offline tokens", () => {
  it("admits as Keyward does: by family, a mapped IPv4 address as IPv4, nothing unknown", () => {
    const list = ["203.0.113.0/24", "2001:db8::/32"];
    expect(ipAdmitted(list, "203.0.113.7")).toBe(true);
    expect(ipAdmitted(list, "::ffff:203.0.113.7")).toBe(true);
    expect(ipAdmitted(list, "::FFFF:cb00:7107")).toBe(true); // 203.0.113.7, in hex
    expect(ipAdmitted(list, "2001:db8:1::1")).toBe(true);
    expect(ipAdmitted(list, "198.51.100.1")).toBe(false);
    expect(ipAdmitted(list, undefined)).toBe(false);
    expect(ipAdmitted(list, "unknown")).toBe(false);
    // An IPv6 rule admits no IPv4 client, though ::/0 covers the mapped addresses.
    expect(ipAdmitted(["::/0"], "203.0.113.7")).toBe(false);
    expect(ipAdmitted(["::/0"], "::ffff:203.0.113.7")).toBe(false);
    expect(ipAdmitted(["::/0"], "2001:db8::1")).toBe(true);
    expect(ipAdmitted(["0.0.0.0/0"], "2001:db8::1")).toBe(false);
    expect(ipAdmitted([], undefined)).toBe(true);
    expect(ipAdmitted(undefined, undefined)).toBe(true);
  });

  it("reads an address as Keyward does", () => {
    expect(readAddress(" 203.0.113.7 ")).toBe("203.0.113.7");
    expect(readAddress("fe80::1%eth0")).toBe("fe80::1");
    expect(readAddress("2001:db8::1")).toBe("2001:db8::1");
    for (const bad of ["unknown", "", undefined, "1.2.3.4.5", "203.0.113.7:443", "1.2.3.4%eth0", "fe80::1%<script>"])
      expect(readAddress(bad), bad).toBeNull();
    expect(ipAdmitted(["0.0.0.0/0"], "203.0.113.7%eth0")).toBe(false);
    expect(ipAdmitted(["0.0.0.0/0"], "203.0.113.7:443")).toBe(false);
  });

  it("reads a request's address without the port or brackets a proxy may add", () => {
    expect(forwardedAddress("203.0.113.7:50312")).toBe("203.0.113.7");
    expect(forwardedAddress("[2001:db8::1]:443")).toBe("2001:db8::1");
    expect(forwardedAddress("[2001:db8::1]")).toBe("2001:db8::1");
    expect(forwardedAddress("2001:db8::1:443")).toBe("2001:db8::1:443"); // an IPv6 address, as written
    for (const bad of ["unknown", "203.0.113.7:x", "[1.2.3.4%eth0]:1"]) expect(forwardedAddress(bad), bad).toBeNull();
  });
});
