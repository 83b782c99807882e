import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { Harness } from "../harness.js";
import { mkKey } from "./key-helpers.js";

const GRANT = "urn:keyward:params:oauth:grant-type:apikey";

/**
 * The client IP comes from the socket; X-Forwarded-For counts only when the socket peer is a
 * proxy listed in KEYWARD_TRUSTED_PROXIES. Observed through a key restricted to one address.
 */
describe("KEYWARD_TRUSTED_PROXIES", () => {
  it("refuses an entry that is no address, range or name, naming the setting and the entry", () => {
    expect(loadConfig({ KEYWARD_TRUSTED_PROXIES: "10.0.0.0/8, loopback,::1" }).trustedProxies).toEqual([
      "10.0.0.0/8",
      "loopback",
      "::1",
    ]);
    for (const bad of ["10.0.0.0/33", "0.0.0.0/0", "proxy.internal"]) {
      expect(() => loadConfig({ KEYWARD_TRUSTED_PROXIES: `10.0.0.1,${bad}` })).toThrow(ConfigError);
      expect(() => loadConfig({ KEYWARD_TRUSTED_PROXIES: `10.0.0.1,${bad}` })).toThrow(
        new RegExp(`KEYWARD_TRUSTED_PROXIES: "${bad.replace(/[./]/g, "\\$&")}"`),
      );
    }
  });
});

describe("client IP", () => {
  let h: Harness;
  afterEach(async () => h.close());

  async function setup(trusted?: string) {
    h = await Harness.init("sqlite", trusted ? { KEYWARD_TRUSTED_PROXIES: trusted } : {});
    const org = await h.newOrgWithOwner("ip");
    const k = await mkKey(h, org.token, org.orgId, { name: "pinned", allowedIps: ["203.0.113.5"] });
    const exchange = async (remote: string, xff?: string) => {
      const res = await h.req("POST", "/v1/token", {
        ip: remote,
        headers: xff ? { "x-forwarded-for": xff } : {},
        body: { grant_type: GRANT, apikey: k.secret },
      });
      return res.status === 200 ? "ok" : res.body.error_description;
    };
    const me = async (remote: string, xff?: string) =>
      (await h.req("GET", "/v1/me", { token: k.secret, ip: remote, headers: xff ? { "x-forwarded-for": xff } : {} }))
        .status;
    return { exchange, me };
  }

  it("uses the socket address and ignores X-Forwarded-For without trusted proxies", async () => {
    const { exchange, me } = await setup();
    expect(await exchange("203.0.113.5")).toBe("ok");
    expect(await exchange("198.51.100.9", "203.0.113.5")).toContain("IP_NOT_ALLOWED");
    expect(await me("203.0.113.5")).toBe(200);
    expect(await me("198.51.100.9", "203.0.113.5")).toBe(401);
  });

  it("believes X-Forwarded-For from a trusted proxy only", async () => {
    const { exchange, me } = await setup("10.0.0.0/8");
    expect(await exchange("10.1.2.3", "203.0.113.5")).toBe("ok");
    expect(await me("10.1.2.3", "203.0.113.5")).toBe(200);
    // The same header from an untrusted peer is ignored.
    expect(await exchange("198.51.100.9", "203.0.113.5")).toContain("IP_NOT_ALLOWED");
    // A client cannot spoof through the proxy: the proxy appends the real peer, which wins.
    expect(await exchange("10.1.2.3", "203.0.113.5, 198.51.100.7")).toContain("IP_NOT_ALLOWED");
    // Chains of trusted proxies are walked back to the first untrusted address.
    expect(await exchange("10.1.2.3", "203.0.113.5, 10.9.9.9")).toBe("ok");
  });

  it("takes no forwarded entry that is no address for the client's (lastUsedIp, audit events)", async () => {
    h = await Harness.init("sqlite", { KEYWARD_TRUSTED_PROXIES: "10.0.0.0/8" });
    const org = await h.newOrgWithOwner("junk");
    const k = await mkKey(h, org.token, org.orgId, { name: "free" });
    const junk = `<script>x</script> evil${"A".repeat(300)}`;
    // The trusted proxy 10.5.5.5 passed on what its client wrote: the proxy is the address known.
    const headers = { "x-forwarded-for": `${junk}, 10.5.5.5` };
    const body = { name: "renamed" };
    expect(
      (await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: k.secret, ip: "10.0.0.1", headers, body })).status,
    ).toBe(200);
    const events = await h.req("GET", `/v1/orgs/${org.orgId}/audit-events`, { token: org.token });
    expect(events.body.items[0]).toMatchObject({ action: "api_key.update", ip: "10.5.5.5" });
    const exchanged = await h.req("POST", "/v1/token", {
      ip: "10.0.0.1",
      headers: { "x-forwarded-for": junk },
      body: { grant_type: GRANT, apikey: k.secret },
    });
    expect(exchanged.status).toBe(200);
    const usage = await h.req("GET", `/v1/api-keys/${k.id}/usage`, { token: org.token });
    expect(usage.body.lastUsedIp).toBe("10.0.0.1");
  });

  it("matches IPv4-mapped IPv6 socket addresses against IPv4 rules", async () => {
    const { exchange } = await setup();
    expect(await exchange("::ffff:203.0.113.5")).toBe("ok");
  });
});
