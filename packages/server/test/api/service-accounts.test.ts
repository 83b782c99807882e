import { afterAll, beforeAll, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";

describeEachDialect("service accounts", (dialect) => {
  let h: Harness;
  let owner: { token: string; orgId: string; userId: string; email: string };

  beforeAll(async () => {
    h = await Harness.init(dialect);
    owner = await h.newOrgWithOwner("sas");
  });
  afterAll(async () => h?.close());

  const create = (body: Record<string, unknown>, token = owner.token) =>
    h.req("POST", `/v1/orgs/${owner.orgId}/service-accounts`, { token, body });

  it("creates a service account with role bindings and reads it back", async () => {
    const project = await h.req("POST", `/v1/orgs/${owner.orgId}/projects`, {
      token: owner.token,
      body: { name: "p" },
    });
    const res = await create({
      name: "billing",
      description: "Bills",
      roles: [{ roleId: "role_viewer" }, { roleId: "role_admin", projectId: project.body.id }],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      orgId: owner.orgId,
      name: "billing",
      description: "Bills",
      createdBy: owner.userId,
      roles: [
        { roleId: "role_viewer", projectId: null },
        { roleId: "role_admin", projectId: project.body.id },
      ],
    });
    expect(res.body.id).toMatch(/^sa_[0-9A-Za-z]{24}$/);
    expect((await h.req("GET", `/v1/service-accounts/${res.body.id}`, { token: owner.token })).body).toEqual(res.body);
    const list = await h.req("GET", `/v1/orgs/${owner.orgId}/service-accounts`, { token: owner.token });
    expect(list.body.items.find((s: { id: string }) => s.id === res.body.id)).toEqual(res.body);
  });

  it("creates without roles", async () => {
    const res = await create({ name: "bare" });
    expect(res.status).toBe(201);
    expect(res.body.roles).toEqual([]);
    expect(res.body.description).toBe("");
  });

  it("renames and replaces role bindings; de-duplicates repeated bindings", async () => {
    const sa = (await create({ name: "mutable", roles: [{ roleId: "role_viewer" }] })).body;
    const renamed = await h.req("PATCH", `/v1/service-accounts/${sa.id}`, {
      token: owner.token,
      body: { name: "renamed" },
    });
    expect(renamed.body).toMatchObject({ name: "renamed", roles: [{ roleId: "role_viewer", projectId: null }] });
    const rebound = await h.req("PATCH", `/v1/service-accounts/${sa.id}`, {
      token: owner.token,
      body: { roles: [{ roleId: "role_member" }, { roleId: "role_member", projectId: null }] },
    });
    expect(rebound.status).toBe(200);
    expect(rebound.body.roles).toEqual([{ roleId: "role_member", projectId: null }]);
    const cleared = await h.req("PATCH", `/v1/service-accounts/${sa.id}`, { token: owner.token, body: { roles: [] } });
    expect(cleared.body.roles).toEqual([]);
    expect(cleared.body.name).toBe("renamed");
  });

  it("deletes a service account with its bindings", async () => {
    const sa = (await create({ name: "temp", roles: [{ roleId: "role_viewer" }] })).body;
    expect((await h.req("DELETE", `/v1/service-accounts/${sa.id}`, { token: owner.token })).status).toBe(204);
    expect((await h.req("GET", `/v1/service-accounts/${sa.id}`, { token: owner.token })).status).toBe(404);
    expect(
      await h.kw.db.kysely.selectFrom("bindings").select("id").where("principal_id", "=", sa.id).execute(),
    ).toEqual([]);
  });

  it("rejects unknown roles and foreign projects", async () => {
    const bad = await create({ name: "x", roles: [{ roleId: "role_nope" }] });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe("roles/0/roleId");
    const other = await h.newOrgWithOwner("sa-foreign");
    const project = await h.req("POST", `/v1/orgs/${other.orgId}/projects`, {
      token: other.token,
      body: { name: "theirs" },
    });
    const foreign = await create({ name: "x", roles: [{ roleId: "role_viewer", projectId: project.body.id }] });
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors[0].path).toBe("roles/0/projectId");
  });

  it("forbids escalation through service-account bindings", async () => {
    const admin = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_admin" }], "saadmin");
    const owned = await create({ name: "mighty", roles: [{ roleId: "role_owner" }] }, admin.token);
    expect(owned.status).toBe(403);
    expect(owned.body.errors[0].code).toBe("escalation");
    const sa = (await create({ name: "meek" }, admin.token)).body;
    expect(sa.createdBy).toBe(admin.userId);
    const escalate = await h.req("PATCH", `/v1/service-accounts/${sa.id}`, {
      token: admin.token,
      body: { roles: [{ roleId: "role_owner" }] },
    });
    expect(escalate.status).toBe(403);
    expect(
      (
        await h.req("PATCH", `/v1/service-accounts/${sa.id}`, {
          token: admin.token,
          body: { roles: [{ roleId: "role_admin" }] },
        })
      ).status,
    ).toBe(200);
  });

  it("nor takes away an owner's role: an admin neither unbinds nor deletes an owner service account", async () => {
    const admin = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_admin" }], "saadmin2");
    const mighty = (await create({ name: "mighty2", roles: [{ roleId: "role_owner" }] })).body;
    const unbind = await h.req("PATCH", `/v1/service-accounts/${mighty.id}`, {
      token: admin.token,
      body: { roles: [{ roleId: "role_admin" }] },
    });
    expect(unbind.status).toBe(403);
    expect((await h.req("DELETE", `/v1/service-accounts/${mighty.id}`, { token: admin.token })).status).toBe(403);
    const still = await h.req("GET", `/v1/service-accounts/${mighty.id}`, { token: owner.token });
    expect(still.body.roles).toEqual([{ roleId: "role_owner", projectId: null }]);
    expect((await h.req("DELETE", `/v1/service-accounts/${mighty.id}`, { token: owner.token })).status).toBe(204);
  });

  it("answers a create or rename with what it did to a caller holding just that permission (no read)", async () => {
    const key = async (permission: string) =>
      (
        await h.req("POST", `/v1/orgs/${owner.orgId}/api-keys`, {
          token: owner.token,
          body: { name: permission, permissions: [permission] },
        })
      ).body.secret as string;
    const made = await create({ name: "ci-robot" }, await key("iam:serviceaccounts:create"));
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ name: "ci-robot", roles: [] });
    const renamed = await h.req("PATCH", `/v1/service-accounts/${made.body.id}`, {
      token: await key("iam:serviceaccounts:update"),
      body: { name: "ci-robot-2" },
    });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    expect(renamed.body.name).toBe("ci-robot-2");
    const rows = await h.kw.db.kysely
      .selectFrom("service_accounts")
      .select("name")
      .where("org_id", "=", owner.orgId)
      .execute();
    expect(rows.filter((r) => r.name.startsWith("ci-robot"))).toEqual([{ name: "ci-robot-2" }]);
  });

  it("cannot hold the platform permission outside the operator org", async () => {
    const role = await h.req("POST", `/v1/orgs/${owner.orgId}/roles`, {
      token: owner.token,
      body: { name: "verifier", permissions: ["iam:apikeys:verify"] },
    });
    expect(role.status).toBe(400);
    expect(role.body.errors[0]).toMatchObject({ path: "permissions/0", code: "unknown_permission" });
  });

  it("may hold it in the operator org", async () => {
    const token = await h.login();
    const role = await h.req("POST", `/v1/orgs/${h.operatorOrgId}/roles`, {
      token,
      body: { name: "verifier", permissions: ["iam:apikeys:verify"] },
    });
    expect(role.status).toBe(201);
    const sa = await h.req("POST", `/v1/orgs/${h.operatorOrgId}/service-accounts`, {
      token,
      body: { name: "gateway", roles: [{ roleId: role.body.id }] },
    });
    expect(sa.status).toBe(201);
    expect(sa.body.roles).toEqual([{ roleId: role.body.id, projectId: null }]);
  });

  it("members can read but not create service accounts", async () => {
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_member" }], "samember");
    expect((await h.req("GET", `/v1/orgs/${owner.orgId}/service-accounts`, { token: m.token })).status).toBe(200);
    expect((await create({ name: "nope" }, m.token)).status).toBe(403);
  });
});
