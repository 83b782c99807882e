import { afterAll, beforeAll, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";

describeEachDialect("organizations", (dialect) => {
  let h: Harness;
  let token: string;

  beforeAll(async () => {
    h = await Harness.init(dialect);
    token = await h.login();
  });
  afterAll(async () => h?.close());

  const create = (name: string, t = token) => h.req("POST", "/v1/orgs", { token: t, body: { name } });

  it("creates an org owned by its creator, with default settings and an ETag", async () => {
    const res = await create("Acme");
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: "Acme",
      isOperator: false,
      version: 1,
      settings: {
        restrictKeyCreation: false,
        requireExpiry: false,
        maxKeyLifetimeDays: null,
        maxKeysPerUser: null,
        allowedIps: [],
        inviterManagesKeys: false,
      },
    });
    expect(res.body.id).toMatch(/^org_[0-9A-Za-z]{24}$/);
    expect(res.headers.etag).toBe('"v1"');
    const me = await h.req("GET", "/v1/me", { token });
    const member = await h.req("GET", `/v1/orgs/${res.body.id}/members/${me.body.user.id}`, { token });
    expect(member.body.roles).toEqual([{ roleId: "role_owner", projectId: null }]);
  });

  it("lists only my orgs", async () => {
    const other = await h.newOrgWithOwner("private");
    const mine = await h.req("GET", "/v1/orgs", { token });
    const ids = mine.body.items.map((o: { id: string }) => o.id);
    expect(ids).toContain(h.operatorOrgId);
    expect(ids).not.toContain(other.orgId);
    const theirs = await h.req("GET", "/v1/orgs", { token: other.token });
    // The new user is a viewer in the operator org (invited there) and owns their own.
    expect(theirs.body.items.map((o: { id: string }) => o.id).sort()).toEqual([h.operatorOrgId, other.orgId].sort());
  });

  it("reads an org", async () => {
    const org = await h.req("GET", `/v1/orgs/${h.operatorOrgId}`, { token });
    expect(org.status).toBe(200);
    expect(org.body).toMatchObject({ id: h.operatorOrgId, isOperator: true });
    expect(org.headers.etag).toBe(`"v${org.body.version}"`);
    expect((await h.req("GET", "/v1/orgs/org_doesnotexist", { token })).status).toBe(404);
  });

  it("renames and merges settings, normalising IP rules", async () => {
    const org = (await create("Before")).body;
    const renamed = await h.req("PATCH", `/v1/orgs/${org.id}`, { token, body: { name: "After" } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: "After", version: 2 });
    expect(renamed.headers.etag).toBe('"v2"');
    const s1 = await h.req("PATCH", `/v1/orgs/${org.id}`, {
      token,
      body: { settings: { requireExpiry: true, maxKeyLifetimeDays: 90 } },
    });
    expect(s1.body.settings).toMatchObject({ requireExpiry: true, maxKeyLifetimeDays: 90, restrictKeyCreation: false });
    const s2 = await h.req("PATCH", `/v1/orgs/${org.id}`, {
      token,
      body: { settings: { allowedIps: ["10.0.0.7/8", "::ffff:1.2.3.4", "2001:DB8::/32"] } },
    });
    expect(s2.body.settings).toMatchObject({
      requireExpiry: true,
      maxKeyLifetimeDays: 90,
      allowedIps: ["10.0.0.0/8", "1.2.3.4", "2001:db8::/32"],
    });
    const unset = await h.req("PATCH", `/v1/orgs/${org.id}`, {
      token,
      body: { settings: { maxKeyLifetimeDays: null } },
    });
    expect(unset.body.settings.maxKeyLifetimeDays).toBeNull();
    const read = await h.req("GET", `/v1/orgs/${org.id}`, { token });
    expect(read.body.name).toBe("After");
    expect(read.body.settings.allowedIps).toEqual(["10.0.0.0/8", "1.2.3.4", "2001:db8::/32"]);
  });

  it("changes nothing, and audits nothing, for a PATCH that changes nothing", async () => {
    const org = (await create("Same")).body;
    for (const body of [{}, { name: "Same" }, { settings: { requireExpiry: false } }]) {
      const res = await h.req("PATCH", `/v1/orgs/${org.id}`, { token, body });
      expect(res.status).toBe(200);
      expect(res.body.version).toBe(1);
    }
    const events = await h.kw.db.kysely
      .selectFrom("audit_events")
      .select("action")
      .where("org_id", "=", org.id)
      .where("action", "=", "org.update")
      .execute();
    expect(events).toEqual([]);
  });

  it("rejects bad settings with the offending field", async () => {
    const org = (await create("Strict")).body;
    const ip = await h.req("PATCH", `/v1/orgs/${org.id}`, {
      token,
      body: { settings: { allowedIps: ["10.0.0.1", "10.0.0.300"] } },
    });
    expect(ip.status).toBe(400);
    expect(ip.body.errors[0]).toMatchObject({ path: "settings/allowedIps/1", code: "ip" });
    const days = await h.req("PATCH", `/v1/orgs/${org.id}`, { token, body: { settings: { maxKeyLifetimeDays: 0 } } });
    expect(days.status).toBe(400);
    expect(days.body.errors[0]).toMatchObject({ path: "settings/maxKeyLifetimeDays", code: "minimum" });
    const type = await h.req("PATCH", `/v1/orgs/${org.id}`, { token, body: { settings: { requireExpiry: "yes" } } });
    expect(type.status).toBe(400);
    expect((await h.req("GET", `/v1/orgs/${org.id}`, { token })).body.version).toBe(1);
  });

  it("honours If-Match: a stale version gets 412", async () => {
    const org = (await create("Concurrent")).body;
    const ok = await h.req("PATCH", `/v1/orgs/${org.id}`, {
      token,
      body: { name: "One" },
      headers: { "if-match": '"v1"' },
    });
    expect(ok.status).toBe(200);
    const stale = await h.req("PATCH", `/v1/orgs/${org.id}`, {
      token,
      body: { name: "Two" },
      headers: { "if-match": '"v1"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe("PRECONDITION_FAILED");
    const garbage = await h.req("PATCH", `/v1/orgs/${org.id}`, {
      token,
      body: { name: "Two" },
      headers: { "if-match": "whatever" },
    });
    expect(garbage.status).toBe(412);
    expect((await h.req("GET", `/v1/orgs/${org.id}`, { token })).body.name).toBe("One");
  });

  it("deletes an org and everything in it", async () => {
    const org = (await create("Doomed")).body;
    const project = await h.req("POST", `/v1/orgs/${org.id}/projects`, { token, body: { name: "p" } });
    const sa = await h.req("POST", `/v1/orgs/${org.id}/service-accounts`, {
      token,
      body: { name: "sa", roles: [{ roleId: "role_viewer" }] },
    });
    const role = await h.req("POST", `/v1/orgs/${org.id}/roles`, {
      token,
      body: { name: "r", permissions: ["compute:read"] },
    });
    await h.req("POST", `/v1/orgs/${org.id}/invitations`, { token, body: { email: "doomed@example.com" } });
    expect((await h.req("DELETE", `/v1/orgs/${org.id}`, { token })).status).toBe(204);
    expect((await h.req("GET", `/v1/orgs/${org.id}`, { token })).status).toBe(404);
    expect((await h.req("GET", `/v1/projects/${project.body.id}`, { token })).status).toBe(404);
    expect((await h.req("GET", `/v1/service-accounts/${sa.body.id}`, { token })).status).toBe(404);
    expect((await h.req("GET", `/v1/roles/${role.body.id}`, { token })).status).toBe(404);
    const db = h.kw.db.kysely;
    for (const table of ["projects", "service_accounts", "roles", "bindings", "invitations", "org_members"] as const) {
      expect(await db.selectFrom(table).select("org_id").where("org_id", "=", org.id).execute(), table).toEqual([]);
    }
    expect((await h.req("GET", "/v1/orgs", { token })).body.items.map((o: { id: string }) => o.id)).not.toContain(
      org.id,
    );
  });

  it("never deletes the operator org", async () => {
    const res = await h.req("DELETE", `/v1/orgs/${h.operatorOrgId}`, { token });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("CONFLICT");
  });

  it("lets an admin change settings but not delete the org", async () => {
    const org = (await create("Admined")).body;
    const admin = await h.newMember(org.id, token, [{ roleId: "role_admin" }], "orgadmin");
    expect(
      (await h.req("PATCH", `/v1/orgs/${org.id}`, { token: admin.token, body: { settings: { requireExpiry: true } } }))
        .status,
    ).toBe(200);
    expect((await h.req("DELETE", `/v1/orgs/${org.id}`, { token: admin.token })).status).toBe(403);
  });
});

describeEachDialect("organization creation turned off", (dialect) => {
  it("refuses to create orgs when KEYWARD_ALLOW_ORG_CREATION=false", async () => {
    const h = await Harness.init(dialect, { KEYWARD_ALLOW_ORG_CREATION: "Off" });
    try {
      const token = await h.login();
      const res = await h.req("POST", "/v1/orgs", { token, body: { name: "nope" } });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("FORBIDDEN");
    } finally {
      await h.close();
    }
  });
});
