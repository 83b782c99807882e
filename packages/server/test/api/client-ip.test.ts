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

  for (const dialect of ["sqlite", "postgres"] as const) {
    it(`takes a forwarded IPv6 address without its zone id, and skips a zone that is no interface name (${dialect})`, async () => {
      h = await Harness.init(dialect, { KEYWARD_TRUSTED_PROXIES: "10.0.0.0/8" });
      const org = await h.newOrgWithOwner("zone");
      const k = await mkKey(h, org.token, org.orgId, { name: "via proxy" });
      const plain = await mkKey(h, org.token, org.orgId, { name: "plain" });
      const { usage } = h.kw.services.verify;
      usage.stop();
      // A long zone id was taken as sent: on PostgreSQL (varchar(64)) the change answered 500,
      // and the usage flush failed for every key from then on; on SQLite markup was stored.
      const forwarded = [
        `fe80::1%${"z".repeat(100)}, 10.5.5.5`,
        "fe80::1%<img src=x onerror=alert(1)>",
        "fe80::1%eth0",
      ];
      for (const xff of forwarded) {
        const res = await h.req("PATCH", `/v1/api-keys/${k.id}`, {
          token: k.secret,
          ip: "10.0.0.1",
          headers: { "x-forwarded-for": xff },
          body: { description: xff.slice(0, 20) },
        });
        expect(res.status, xff).toBe(200);
      }
      const ips = (
        await h.req("GET", `/v1/orgs/${org.orgId}/audit-events?action=api_key.update`, { token: org.token })
      ).body.items.map((e: { ip: string }) => e.ip);
      expect(ips).toEqual(["fe80::1", "10.0.0.1", "10.5.5.5"]);
      expect((await h.req("GET", "/v1/me", { token: plain.secret, ip: "10.0.0.2" })).status).toBe(200);
      await usage.flush(true);
      const stored = await h.kw.db.kysely
        .selectFrom("api_keys")
        .select(["id", "last_used_at", "last_used_ip"])
        .where("org_id", "=", org.orgId)
        .execute();
      for (const row of stored) expect(row.last_used_at, row.id).not.toBeNull();
    });
  }

  it("matches IPv4-mapped IPv6 socket addresses against IPv4 rules, and records them as IPv4", async () => {
    const { exchange, me } = await setup();
    // What Node reports for an IPv4 client of a server listening on "::".
    expect(await exchange("::ffff:203.0.113.5")).toBe("ok");
    const org = await h.newOrgWithOwner("ip2");
    const k = await mkKey(h, org.token, org.orgId, { name: "dual-stack" });
    const last = async () => (await h.req("GET", `/v1/api-keys/${k.id}`, { token: org.token })).body.lastUsedIp;
    await h.req("POST", "/v1/token", { ip: "::ffff:203.0.113.7", body: { grant_type: GRANT, apikey: k.secret } });
    expect(await last()).toBe("203.0.113.7");
    expect((await h.req("GET", "/v1/me", { token: k.secret, ip: "::FFFF:203.0.113.8" })).status).toBe(200);
    expect(await last()).toBe("203.0.113.8");
    expect(await me("::ffff:203.0.113.5")).toBe(200);
  });
});
