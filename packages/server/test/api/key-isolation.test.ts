import { afterEach, beforeEach, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey, mkProject, mkServiceAccount } from "./key-helpers.js";

/**
 * Cross-tenant matrix for every key endpoint and every credential kind: another org's key,
 * org or audit log always answers 404 (never 403), and nothing changes.
 * @see issue 3, point 12
 */
describeEachDialect("api key isolation", (dialect) => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.init(dialect);
  });
  afterEach(async () => h.close());

  it("leaks nothing across orgs to sessions, user keys, service-account keys or project keys", async () => {
    const a = await h.newOrgWithOwner("a");
    const b = await h.newOrgWithOwner("b");
    // Victim keys of each owner kind in org A.
    const saA = await mkServiceAccount(h, a.token, a.orgId, [{ roleId: "role_viewer" }]);
    const pA = await mkProject(h, a.token, a.orgId);
    const victims = [
      await mkKey(h, a.token, a.orgId, { name: "user" }),
      await mkKey(h, a.token, a.orgId, { name: "sa", owner: { type: "service_account", id: saA } }),
      await mkKey(h, a.token, a.orgId, {
        name: "prj",
        owner: { type: "project", id: pA },
        permissions: ["compute:read"],
      }),
    ];
    // Attackers: every credential kind, all-powerful inside org B.
    const saB = await mkServiceAccount(h, b.token, b.orgId, [{ roleId: "role_owner" }]);
    const pB = await mkProject(h, b.token, b.orgId);
    const attackers: Record<string, string> = {
      session: b.token,
      userKey: (await mkKey(h, b.token, b.orgId, { name: "u" })).secret,
      serviceAccountKey: (await mkKey(h, b.token, b.orgId, { name: "s", owner: { type: "service_account", id: saB } }))
        .secret,
      projectKey: (await mkKey(h, b.token, b.orgId, { name: "p", owner: { type: "project", id: pB } })).secret,
    };
    const before = JSON.stringify(
      await h.kw.db.kysely.selectFrom("api_keys").selectAll().where("org_id", "=", a.orgId).orderBy("id").execute(),
    );

    let checked = 0;
    for (const [kind, token] of Object.entries(attackers)) {
      const orgCalls: [string, string, unknown?][] = [
        ["GET", `/v1/orgs/${a.orgId}/api-keys`],
        ["GET", `/v1/orgs/${a.orgId}/api-keys?view=all`],
        ["GET", `/v1/orgs/${a.orgId}/api-keys?view=${a.userId}`],
        ["GET", `/v1/orgs/${a.orgId}/api-keys/allowed-permissions`],
        ["POST", `/v1/orgs/${a.orgId}/api-keys`, { name: "intruder" }],
        ["POST", `/v1/orgs/${a.orgId}/api-keys`, { name: "intruder", owner: { type: "service_account", id: saA } }],
        ["GET", `/v1/orgs/${a.orgId}/audit-events`],
      ];
      for (const v of victims) {
        orgCalls.push(
          ["GET", `/v1/api-keys/${v.id}`],
          ["PATCH", `/v1/api-keys/${v.id}`, { name: "owned" }],
          ["DELETE", `/v1/api-keys/${v.id}`],
          ["POST", `/v1/api-keys/${v.id}/regenerate`, {}],
          ["POST", `/v1/api-keys/${v.id}/disable`, {}],
          ["POST", `/v1/api-keys/${v.id}/enable`, {}],
        );
      }
      for (const [method, url, body] of orgCalls) {
        const res = await h.req(method, url, { token, body });
        expect(res.status, `${kind} ${method} ${url}`).toBe(404);
        expect(JSON.stringify(res.body)).not.toContain(a.userId);
        checked++;
      }
      // Naming A's principals as owner inside B finds nothing there.
      for (const ownerRef of [
        { type: "service_account", id: saA },
        { type: "project", id: pA },
        { type: "user", id: a.userId },
      ]) {
        const res = await h.req("POST", `/v1/orgs/${b.orgId}/api-keys`, {
          token,
          body: { name: "x", owner: ownerRef },
        });
        expect([400, 403], `${kind} owner ${ownerRef.type}`).toContain(res.status);
        checked++;
      }
    }
    // A key is confined to its own org even when its user belongs to another (the operator org).
    const opRes = await h.req("GET", `/v1/orgs/${h.operatorOrgId}/api-keys`, { token: attackers.userKey });
    expect(opRes.status).toBe(404);
    const after = JSON.stringify(
      await h.kw.db.kysely.selectFrom("api_keys").selectAll().where("org_id", "=", a.orgId).orderBy("id").execute(),
    );
    expect(after).toBe(before);
    expect(checked).toBeGreaterThanOrEqual(4 * (7 + 18 + 3));
    for (const v of victims.slice(0, 1))
      expect((await h.req("GET", `/v1/orgs/${a.orgId}`, { token: v.secret })).status).toBe(200);
  });
});
