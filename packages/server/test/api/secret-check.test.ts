import { afterEach, beforeEach, expect, it } from "vitest";
import { createKeyward } from "../../src/compose.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey } from "./key-helpers.js";

/**
 * Every key's stored hash and the signing keys depend on the secret (KEYWARD_SECRET, or
 * data/secret.key). A node started with another one (the file lost with an ephemeral disk, a
 * cluster node given none) used to start and answer every key NOT_FOUND and every token
 * exchange 500; it now refuses to start, naming the setting.
 */
describeEachDialect("the secret the database was made with", (dialect) => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.init(dialect);
  });
  afterEach(async () => h?.close());

  it("refuses to start a second node with another secret, and starts one with the same", async () => {
    const token = await h.login();
    const key = await mkKey(h, token, h.operatorOrgId, { name: "k" });
    const config = h.kw.services.deps.config;

    const other = createKeyward({ ...config, secret: "another-secret-another-secret-another-1234" }, { logger: false });
    await expect(other).rejects.toBeInstanceOf(ConfigError);
    await expect(other).rejects.toThrow(/KEYWARD_SECRET/);

    const same = await createKeyward(config, { logger: false });
    try {
      const res = await same.app.inject({
        method: "GET",
        url: "/v1/me",
        headers: { authorization: `Bearer ${key.secret}` },
      });
      expect(res.statusCode).toBe(200);
      const exchanged = await same.app.inject({
        method: "POST",
        url: "/v1/token",
        payload: { grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: key.secret },
      });
      expect(exchanged.statusCode, exchanged.body).toBe(200);
    } finally {
      await same.close();
    }
    // The fingerprint stored is no secret: not the secret, nor anything it is kept in.
    const rows = await h.kw.db.kysely.selectFrom("instance_settings").selectAll().execute();
    expect(rows.map((r) => r.name)).toEqual(["secret_fingerprint"]);
    expect(rows[0].value).not.toContain(config.secret as string);
    expect(rows[0].value).toMatch(/^[0-9a-f]{64}$/);
  });

  it("keeps accepting keys issued under an earlier prefix listed after the new one", async () => {
    const token = await h.login();
    const old = await mkKey(h, token, h.operatorOrgId, { name: "old" });
    expect(old.secret).toMatch(/^kw_/);
    const config = h.kw.services.deps.config;
    const loadConfigPrefix = (raw: string) => loadConfig({ KEYWARD_KEY_PREFIX: raw, KEYWARD_DATA_DIR: config.dataDir });
    expect(loadConfigPrefix("acme,kw")).toMatchObject({ keyPrefix: "acme", keyPrefixes: ["acme", "kw"] });
    expect(() => loadConfigPrefix("acme,KW")).toThrow(ConfigError);
    for (const prefixes of [["acme"], ["acme", "kw"]]) {
      const node = await createKeyward({ ...config, keyPrefix: "acme", keyPrefixes: prefixes }, { logger: false });
      try {
        const me = await node.app.inject({
          method: "GET",
          url: "/v1/me",
          headers: { authorization: `Bearer ${old.secret}` },
        });
        // Only the prefix alone stops every key issued before (as it did); listed, they go on working.
        expect(me.statusCode, prefixes.join()).toBe(prefixes.includes("kw") ? 200 : 401);
        const made = await node.app.inject({
          method: "POST",
          url: `/v1/orgs/${h.operatorOrgId}/api-keys`,
          headers: { authorization: `Bearer ${token}` },
          payload: { name: "new" },
        });
        expect(JSON.parse(made.body).secret).toMatch(/^acme_/);
      } finally {
        await node.close();
      }
    }
  });

  it("replays a regenerate made under an earlier prefix still listed (a retry reaching a node with the new list)", async () => {
    const token = await h.login();
    const k = await mkKey(h, token, h.operatorOrgId, { name: "r" });
    const headers = { "idempotency-key": "retry-prefix" };
    const first = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token, headers });
    expect(first.body.secret).toMatch(/^kw_/);
    const config = h.kw.services.deps.config;
    const node = await createKeyward({ ...config, keyPrefix: "acme", keyPrefixes: ["acme", "kw"] }, { logger: false });
    try {
      const retry = await node.app.inject({
        method: "POST",
        url: `/v1/api-keys/${k.id}/regenerate`,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
        payload: "{}",
      });
      // It answered 409 "superseded" while the first secret was still the key's.
      expect(retry.statusCode, retry.body).toBe(200);
      expect(JSON.parse(retry.body).secret).toBe(first.body.secret);
    } finally {
      await node.close();
    }
  });
});
