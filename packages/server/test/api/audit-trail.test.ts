import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey, mkProject, mkServiceAccount } from "./key-helpers.js";

const GRANT = "urn:keyward:params:oauth:grant-type:apikey";

/**
 * The audit log as an auditor reads it: what a leaked key did through its tokens, what became of
 * keys deleted with their service account or project, and events of one millisecond in order.
 * Each case failed before its fix.
 */
describeEachDialect("audit trail", (dialect) => {
  let h: Harness;
  let owner: string;
  let org: string;
  beforeEach(async () => {
    h = await Harness.init(dialect);
    owner = await h.login();
    org = h.operatorOrgId;
  });
  afterEach(async () => {
    vi.useRealTimers();
    await h.close();
  });

  const events = async (q: string) => {
    const res = await h.req("GET", `/v1/orgs/${org}/audit-events${q}`, { token: owner });
    expect(res.status).toBe(200);
    return res.body.items as {
      action: string;
      result: string;
      actor: { credential: string | null };
      target: { id: string } | null;
      details: unknown;
    }[];
  };

  it("finds what a leaked key did through tokens exchanged from it (actor=<key id>)", async () => {
    const k = await mkKey(h, owner, org, { name: "leaked", permissions: ["iam:apikeys:create", "compute:read"] });
    const tok = await h.req("POST", "/v1/token", { body: { grant_type: GRANT, apikey: k.secret } });
    expect(tok.status).toBe(200);
    // With the token, the holder of the leaked key mints itself another key.
    const made = await h.req("POST", `/v1/orgs/${org}/api-keys`, {
      token: tok.body.access_token,
      body: { name: "persistence", permissions: ["compute:read"] },
    });
    expect(made.status).toBe(201);
    // The auditor asks for everything done with the leaked key.
    const byKey = await events(`?actor=${k.id}`);
    expect(byKey.map((e) => `${e.action} ${e.target?.id}`)).toContain(`api_key.create ${made.body.apiKey.id}`);
    const event = byKey.find((e) => e.target?.id === made.body.apiKey.id) as unknown as {
      actor: { credential: string; key: string };
    };
    expect(event.actor.key).toBe(k.id);
    expect(event.actor.credential).toMatch(/^tok_/);
  });

  it("leaves a trace of the keys a service account's delete takes with it", async () => {
    const sa = await mkServiceAccount(h, owner, org, [{ roleId: "role_viewer" }]);
    const k = await mkKey(h, owner, org, { name: "robot key", owner: { type: "service_account", id: sa } });
    expect((await h.req("DELETE", `/v1/service-accounts/${sa}`, { token: owner })).status).toBe(204);
    expect((await h.req("GET", `/v1/api-keys/${k.id}`, { token: owner })).status).toBe(404);
    // Asked what became of the key, the log answered only its creation.
    const trail = await events(`?target=${k.id}`);
    expect(trail.map((e) => e.action)).toEqual(["api_key.delete", "api_key.create"]);
    expect(trail[0].details).toMatchObject({ reason: `service account ${sa} deleted` });
  });

  it("leaves a trace of the project keys a project's delete takes with it, and of the keys it changes", async () => {
    const p = await mkProject(h, owner, org, "doomed");
    const p2 = await mkProject(h, owner, org, "preferred");
    const k = await mkKey(h, owner, org, { name: "project key", owner: { type: "project", id: p } });
    expect((await h.req("DELETE", `/v1/projects/${p}`, { token: owner })).status).toBe(204);
    expect((await h.req("GET", `/v1/api-keys/${k.id}`, { token: owner })).status).toBe(404);
    const trail = await events(`?target=${k.id}`);
    expect(trail.map((e) => e.action)).toEqual(["api_key.delete", "api_key.create"]);
    expect(trail[0].details).toMatchObject({ reason: `project ${p} deleted` });
    // A key that only preferred the project is changed, and says so.
    const preferring = await mkKey(h, owner, org, { name: "prefers", defaultProjectId: p2 });
    expect((await h.req("DELETE", `/v1/projects/${p2}`, { token: owner })).status).toBe(204);
    const changed = await events(`?target=${preferring.id}&action=api_key.update`);
    expect(changed[0].details).toMatchObject({ before: { defaultProjectId: p2 }, after: { defaultProjectId: null } });
  });

  it("lists events of one millisecond in the order they happened, newest first", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    const k = await mkKey(h, owner, org, { name: "a", permissions: ["compute:read"] });
    await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: owner, body: { name: "b" } });
    await h.req("POST", `/v1/api-keys/${k.id}/disable`, { token: owner, body: {} });
    await h.req("POST", `/v1/api-keys/${k.id}/enable`, { token: owner, body: {} });
    await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner, body: {} });
    await h.req("DELETE", `/v1/api-keys/${k.id}`, { token: owner });
    const trail = await events(`?target=${k.id}`);
    expect(trail.map((e) => e.action)).toEqual([
      "api_key.delete",
      "api_key.regenerate",
      "api_key.enable",
      "api_key.disable",
      "api_key.update",
      "api_key.create",
    ]);
  });
});
