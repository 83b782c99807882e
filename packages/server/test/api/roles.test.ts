import { afterAll, beforeAll, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";

describeEachDialect("roles", (dialect) => {
  let h: Harness;
  let owner: { token: string; orgId: string; userId: string; email: string };

  beforeAll(async () => {
    h = await Harness.init(dialect);
    owner = await h.newOrgWithOwner("roles");
  });
  afterAll(async () => h?.close());

  const create = (body: Record<string, unknown>, token = owner.token) =>
    h.req("POST", `/v1/orgs/${owner.orgId}/roles`, { token, body });

  it("lists the four built-ins first, then custom roles", async () => {
    await create({ name: "zeta", permissions: ["compute:read"] });
    const res = await h.req("GET", `/v1/orgs/${owner.orgId}/roles`, { token: owner.token });
    expect(res.status).toBe(200);
    const ids = res.body.items.map((r: { id: string }) => r.id);
    expect(ids.slice(0, 4)).toEqual(["role_owner", "role_admin", "role_member", "role_viewer"]);
    const owner_ = res.body.items[0];
    expect(owner_).toMatchObject({ name: "owner", permissions: ["*"], builtin: true, orgId: null });
    const member = res.body.items[2];
    // The operator's memberPermissions from the config file.
    expect(member.permissions).toEqual(
      expect.arrayContaining(["compute:read", "compute:write", "storage:read", "iam:apikeys:create"]),
    );
    expect(res.body.items.find((r: { name: string }) => r.name === "zeta")).toMatchObject({
      builtin: false,
      orgId: owner.orgId,
    });
  });

  it("reads a built-in role by id, signed in", async () => {
    const res = await h.req("GET", "/v1/roles/role_viewer", { token: owner.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: "role_viewer", builtin: true });
    expect((await h.req("GET", "/v1/roles/role_viewer")).status).toBe(401);
  });

  it("never changes or deletes built-in roles", async () => {
    const patch = await h.req("PATCH", "/v1/roles/role_viewer", { token: owner.token, body: { permissions: ["*"] } });
    expect(patch.status).toBe(403);
    expect((await h.req("DELETE", "/v1/roles/role_owner", { token: owner.token })).status).toBe(403);
  });

  it("creates, updates and deletes a custom role with wildcards", async () => {
    const res = await create({
      name: "Compute ops",
      description: "Runs compute",
      permissions: ["compute:*", "storage:read", "compute:*"],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: "Compute ops",
      description: "Runs compute",
      permissions: ["compute:*", "storage:read"],
      builtin: false,
    });
    expect(res.body.id).toMatch(/^role_[0-9A-Za-z]{24}$/);
    const id = res.body.id;
    expect((await h.req("GET", `/v1/roles/${id}`, { token: owner.token })).body).toEqual(res.body);
    const upd = await h.req("PATCH", `/v1/roles/${id}`, {
      token: owner.token,
      body: { name: "Compute readers", permissions: ["compute:read"] },
    });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({
      name: "Compute readers",
      description: "Runs compute",
      permissions: ["compute:read"],
    });
    expect((await h.req("DELETE", `/v1/roles/${id}`, { token: owner.token })).status).toBe(204);
    expect((await h.req("GET", `/v1/roles/${id}`, { token: owner.token })).status).toBe(404);
  });

  it("rejects duplicate names, including built-in names", async () => {
    await create({ name: "unique-one", permissions: ["compute:read"] });
    const dup = await create({ name: "unique-one", permissions: ["compute:read"] });
    expect(dup.status).toBe(400);
    expect(dup.body.errors[0]).toMatchObject({ path: "name", code: "duplicate" });
    expect((await create({ name: "owner", permissions: ["compute:read"] })).status).toBe(400);
    // Nor one that reads as another: names differ by more than case, and end in no space.
    for (const name of ["Owner", "ADMIN", "Unique-One"]) {
      const res = await create({ name, permissions: ["compute:read"] });
      expect(res.status, name).toBe(400);
      expect(res.body.errors[0], name).toMatchObject({ path: "name", code: "duplicate" });
    }
    expect((await create({ name: "owner ", permissions: ["compute:read"] })).body.errors[0].path).toBe("name");
    const other = (await create({ name: "unique-two", permissions: ["compute:read"] })).body;
    expect(
      (await h.req("PATCH", `/v1/roles/${other.id}`, { token: owner.token, body: { name: "unique-one" } })).status,
    ).toBe(400);
    // Its own name in another case is a rename, not a duplicate.
    expect(
      (await h.req("PATCH", `/v1/roles/${other.id}`, { token: owner.token, body: { name: "Unique-Two" } })).status,
    ).toBe(200);
  });

  it("rejects permissions that match nothing in the catalog, naming the entry", async () => {
    const res = await create({ name: "ghost", permissions: ["compute:read", "ghost:read"] });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ path: "permissions/1", code: "unknown_permission" });
    const syntax = await create({ name: "bad", permissions: ["Compute Read"] });
    expect(syntax.status).toBe(400);
    expect(syntax.body.errors[0].path).toBe("permissions/0");
    expect((await create({ name: "empty", permissions: [] })).status).toBe(400);
  });

  it("forbids escalation: no role may hold permissions its author lacks", async () => {
    const custom = await create({ name: "role-editor", permissions: ["iam:roles:*", "compute:read"] });
    const editor = await h.newMember(owner.orgId, owner.token, [{ roleId: custom.body.id }], "roleeditor");
    const ok = await create({ name: "readers", permissions: ["compute:read"] }, editor.token);
    expect(ok.status).toBe(201);
    const wider = await create({ name: "writers", permissions: ["compute:write"] }, editor.token);
    expect(wider.status).toBe(403);
    expect(wider.body.errors[0]).toMatchObject({ path: "permissions/0", code: "escalation" });
    const wildcard = await create({ name: "all-compute", permissions: ["compute:*"] }, editor.token);
    expect(wildcard.status).toBe(403);
    // Cannot widen a role by editing it either, not even the one it holds.
    expect(
      (await h.req("PATCH", `/v1/roles/${ok.body.id}`, { token: editor.token, body: { permissions: ["*"] } })).status,
    ).toBe(403);
    expect(
      (
        await h.req("PATCH", `/v1/roles/${custom.body.id}`, {
          token: editor.token,
          body: { permissions: ["iam:roles:*", "compute:*"] },
        })
      ).status,
    ).toBe(403);
    expect(
      (await h.req("PATCH", `/v1/roles/${ok.body.id}`, { token: editor.token, body: { description: "fine" } })).status,
    ).toBe(200);
  });

  it("a custom role grants exactly its permissions to whom it is bound", async () => {
    const role = await create({ name: "project-creator", permissions: ["iam:projects:create", "iam:projects:read"] });
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: role.body.id }], "creator");
    const p = await h.req("POST", `/v1/orgs/${owner.orgId}/projects`, {
      token: m.token,
      body: { name: "made-by-custom" },
    });
    expect(p.status).toBe(201);
    expect((await h.req("DELETE", `/v1/projects/${p.body.id}`, { token: m.token })).status).toBe(403);
    // Changing the role changes the member's rights at once.
    await h.req("PATCH", `/v1/roles/${role.body.id}`, {
      token: owner.token,
      body: { permissions: ["iam:projects:read"] },
    });
    expect(
      (await h.req("POST", `/v1/orgs/${owner.orgId}/projects`, { token: m.token, body: { name: "again" } })).status,
    ).toBe(403);
  });

  it("refuses to delete a role that is still bound", async () => {
    const role = await create({ name: "bound", permissions: ["compute:read"] });
    const sa = await h.req("POST", `/v1/orgs/${owner.orgId}/service-accounts`, {
      token: owner.token,
      body: { name: "holder", roles: [{ roleId: role.body.id }] },
    });
    const res = await h.req("DELETE", `/v1/roles/${role.body.id}`, { token: owner.token });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("CONFLICT");
    await h.req("PATCH", `/v1/service-accounts/${sa.body.id}`, { token: owner.token, body: { roles: [] } });
    expect((await h.req("DELETE", `/v1/roles/${role.body.id}`, { token: owner.token })).status).toBe(204);
  });

  it("answers a lost uniqueness race with 409 or 400, never 500", async () => {
    const results = await Promise.all(
      Array.from({ length: 4 }, () => create({ name: "raced", permissions: ["compute:read"] })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 201)) {
      expect([400, 409]).toContain(r.status);
      expect(r.headers["content-type"]).toContain("application/problem+json");
    }
  });

  it("keeps custom roles inside their org", async () => {
    const other = await h.newOrgWithOwner("roles-other");
    const theirs = await h.req("POST", `/v1/orgs/${other.orgId}/roles`, {
      token: other.token,
      body: { name: "theirs", permissions: ["compute:read"] },
    });
    expect((await h.req("GET", `/v1/roles/${theirs.body.id}`, { token: owner.token })).status).toBe(404);
    const list = await h.req("GET", `/v1/orgs/${owner.orgId}/roles`, { token: owner.token });
    expect(list.body.items.map((r: { id: string }) => r.id)).not.toContain(theirs.body.id);
  });
});
