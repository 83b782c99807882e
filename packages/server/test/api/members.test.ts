import { afterAll, beforeAll, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";

describeEachDialect("members", (dialect) => {
  let h: Harness;
  let owner: { token: string; orgId: string; userId: string; email: string };

  beforeAll(async () => {
    h = await Harness.init(dialect);
    owner = await h.newOrgWithOwner("boss");
  });
  afterAll(async () => h?.close());

  const members = (orgId = owner.orgId, token = owner.token, query = "") =>
    h.req("GET", `/v1/orgs/${orgId}/members${query}`, { token });

  it("lists members with roles and invitedBy, paginated newest first", async () => {
    const a = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_viewer" }], "pa");
    const b = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_member" }], "pb");
    const page1 = await members(owner.orgId, owner.token, "?limit=2");
    expect(page1.status).toBe(200);
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.nextCursor).toEqual(expect.any(String));
    const page2 = await members(
      owner.orgId,
      owner.token,
      `?limit=2&cursor=${encodeURIComponent(page1.body.nextCursor)}`,
    );
    const all = [...page1.body.items, ...page2.body.items];
    const ids = all.map((m: { userId: string }) => m.userId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining([owner.userId, a.userId, b.userId]));
    const bView = all.find((m: { userId: string }) => m.userId === b.userId);
    expect(bView).toMatchObject({
      email: b.email,
      name: "pb",
      invitedBy: owner.userId,
      roles: [{ roleId: "role_member", projectId: null }],
    });
    expect(bView.joinedAt).toMatch(/Z$/);
  });

  it("lets a member read themselves without iam:members:read, but not others", async () => {
    const nobody = await h.newMember(owner.orgId, owner.token, [], "self");
    const me = await h.req("GET", `/v1/orgs/${owner.orgId}/members/${nobody.userId}`, { token: nobody.token });
    expect(me.status).toBe(200);
    expect(me.body.roles).toEqual([]);
    expect(
      (await h.req("GET", `/v1/orgs/${owner.orgId}/members/${owner.userId}`, { token: nobody.token })).status,
    ).toBe(403);
  });

  it("answers 404 for a user who is not a member of this org", async () => {
    const other = await h.newOrgWithOwner("stranger");
    const res = await h.req("GET", `/v1/orgs/${owner.orgId}/members/${other.userId}`, { token: owner.token });
    expect(res.status).toBe(404);
    expect(
      (
        await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${other.userId}`, {
          token: owner.token,
          body: { roles: [] },
        })
      ).status,
    ).toBe(404);
    expect(
      (await h.req("DELETE", `/v1/orgs/${owner.orgId}/members/${other.userId}`, { token: owner.token })).status,
    ).toBe(404);
  });

  it("replaces a member's roles, org-wide and per project", async () => {
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_viewer" }], "roles");
    const project = await h.req("POST", `/v1/orgs/${owner.orgId}/projects`, {
      token: owner.token,
      body: { name: "rp" },
    });
    const roles = [{ roleId: "role_member" }, { roleId: "role_admin", projectId: project.body.id }];
    const res = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${m.userId}`, {
      token: owner.token,
      body: { roles },
    });
    expect(res.status).toBe(200);
    expect(res.body.roles).toEqual([
      { roleId: "role_member", projectId: null },
      { roleId: "role_admin", projectId: project.body.id },
    ]);
    // Takes effect at once for the member's session.
    expect(
      (await h.req("PATCH", `/v1/projects/${project.body.id}`, { token: m.token, body: { name: "renamed" } })).status,
    ).toBe(200);
    const cleared = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${m.userId}`, {
      token: owner.token,
      body: { roles: [] },
    });
    expect(cleared.body.roles).toEqual([]);
    expect((await h.req("GET", `/v1/projects/${project.body.id}`, { token: m.token })).status).toBe(403);
  });

  it("rejects unknown roles and projects of another org", async () => {
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_viewer" }], "bad");
    const unknown = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${m.userId}`, {
      token: owner.token,
      body: { roles: [{ roleId: "role_nope" }] },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].path).toBe("roles/0/roleId");
    const other = await h.newOrgWithOwner("foreign");
    const foreignRole = await h.req("POST", `/v1/orgs/${other.orgId}/roles`, {
      token: other.token,
      body: { name: "theirs", permissions: ["compute:read"] },
    });
    const r = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${m.userId}`, {
      token: owner.token,
      body: { roles: [{ roleId: foreignRole.body.id }] },
    });
    expect(r.status).toBe(400);
    const foreignProject = await h.req("POST", `/v1/orgs/${other.orgId}/projects`, {
      token: other.token,
      body: { name: "theirs" },
    });
    const p = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${m.userId}`, {
      token: owner.token,
      body: { roles: [{ roleId: "role_viewer", projectId: foreignProject.body.id }] },
    });
    expect(p.status).toBe(400);
    expect(p.body.errors[0].path).toBe("roles/0/projectId");
  });

  it("forbids escalation: an admin cannot make anyone owner, not even themselves", async () => {
    const admin = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_admin" }], "esc");
    const target = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_admin" }], "tgt");
    for (const userId of [admin.userId, target.userId]) {
      const res = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${userId}`, {
        token: admin.token,
        body: { roles: [{ roleId: "role_owner" }] },
      });
      expect(res.status).toBe(403);
      expect(res.body.errors[0].code).toBe("escalation");
    }
    // A custom role with a permission the admin lacks cannot be bound either.
    const role = await h.req("POST", `/v1/orgs/${owner.orgId}/roles`, {
      token: owner.token,
      body: { name: "compute-writer", permissions: ["compute:write"] },
    });
    const bind = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${target.userId}`, {
      token: admin.token,
      body: { roles: [{ roleId: role.body.id }] },
    });
    expect(bind.status).toBe(403);
    // Within what it holds, the admin may change roles.
    const ok = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${target.userId}`, {
      token: admin.token,
      body: { roles: [{ roleId: "role_admin" }] },
    });
    expect(ok.status).toBe(200);
  });

  it("forbids the reverse too: an admin neither demotes nor removes an owner, nor takes a role it could not grant", async () => {
    const second = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_owner" }], "own2");
    const admin = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_admin" }], "adm");
    const demote = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${second.userId}`, {
      token: admin.token,
      body: { roles: [{ roleId: "role_admin" }] },
    });
    expect(demote.status).toBe(403);
    expect(demote.body.errors[0]).toMatchObject({ path: "roles", code: "escalation" });
    const remove = await h.req("DELETE", `/v1/orgs/${owner.orgId}/members/${second.userId}`, { token: admin.token });
    expect(remove.status).toBe(403);
    const still = await h.req("GET", `/v1/orgs/${owner.orgId}/members/${second.userId}`, { token: owner.token });
    expect(still.body.roles).toEqual([{ roleId: "role_owner", projectId: null }]);
    // A custom role with administrative power the admin lacks, it cannot unbind either.
    const writer = await h.req("POST", `/v1/orgs/${owner.orgId}/roles`, {
      token: owner.token,
      body: { name: "deleter", permissions: ["iam:orgs:delete"] },
    });
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: writer.body.id }, { roleId: "role_viewer" }], "w");
    const unbind = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${m.userId}`, {
      token: admin.token,
      body: { roles: [{ roleId: "role_viewer" }] },
    });
    expect(unbind.status).toBe(403);
    const owners = await h.req("PATCH", `/v1/orgs/${owner.orgId}/members/${m.userId}`, {
      token: owner.token,
      body: { roles: [{ roleId: "role_viewer" }] },
    });
    expect(owners.status).toBe(200);
    // Roles of product permissions only (the admin holds none) it still takes away.
    const viewer = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_member" }], "v");
    expect(
      (await h.req("DELETE", `/v1/orgs/${owner.orgId}/members/${viewer.userId}`, { token: admin.token })).status,
    ).toBe(204);
    // An owner may still leave on their own.
    expect(
      (await h.req("DELETE", `/v1/orgs/${owner.orgId}/members/${second.userId}`, { token: second.token })).status,
    ).toBe(204);
  });

  it("keeps the last owner: cannot be demoted or removed, even by themselves", async () => {
    const org = await h.newOrgWithOwner("lonely");
    const demote = await h.req("PATCH", `/v1/orgs/${org.orgId}/members/${org.userId}`, {
      token: org.token,
      body: { roles: [{ roleId: "role_admin" }] },
    });
    expect(demote.status).toBe(409);
    expect(demote.body.code).toBe("CONFLICT");
    const leave = await h.req("DELETE", `/v1/orgs/${org.orgId}/members/${org.userId}`, { token: org.token });
    expect(leave.status).toBe(409);
    // A project-scoped owner binding does not count as an owner of the org.
    const project = await h.req("POST", `/v1/orgs/${org.orgId}/projects`, { token: org.token, body: { name: "p" } });
    const scoped = await h.req("PATCH", `/v1/orgs/${org.orgId}/members/${org.userId}`, {
      token: org.token,
      body: { roles: [{ roleId: "role_owner", projectId: project.body.id }] },
    });
    expect(scoped.status).toBe(409);
    // With a second owner, the first may step down.
    const second = await h.newMember(org.orgId, org.token, [{ roleId: "role_owner" }], "second");
    expect((await h.req("DELETE", `/v1/orgs/${org.orgId}/members/${org.userId}`, { token: org.token })).status).toBe(
      204,
    );
    const list = await members(org.orgId, second.token);
    expect(list.body.items.map((m: { userId: string }) => m.userId)).toEqual([second.userId]);
  });

  it("two owners demoting or removing each other at once leave one owner", async () => {
    for (const mode of ["demote", "remove"] as const) {
      const org = await h.newOrgWithOwner(`race-${mode}`);
      const second = await h.newMember(org.orgId, org.token, [{ roleId: "role_owner" }], `race2-${mode}`);
      const act = (token: string, userId: string) =>
        mode === "demote"
          ? h.req("PATCH", `/v1/orgs/${org.orgId}/members/${userId}`, {
              token,
              body: { roles: [{ roleId: "role_admin" }] },
            })
          : h.req("DELETE", `/v1/orgs/${org.orgId}/members/${userId}`, { token });
      const results = await Promise.all([act(org.token, second.userId), act(second.token, org.userId)]);
      // One wins; the other is refused (409; 404 when it was already removed when it ran; 403 when
      // it was already demoted, no longer an owner who may unmake one).
      const statuses = results.map((r) => r.status);
      expect(
        statuses.filter((s) => s === (mode === "demote" ? 200 : 204)),
        mode,
      ).toHaveLength(1);
      expect(
        statuses.filter((s) => s === 409 || s === 404 || s === 403),
        mode,
      ).toHaveLength(1);
      const owners = await h.kw.db.kysely
        .selectFrom("bindings")
        .select("principal_id")
        .where("org_id", "=", org.orgId)
        .where("role_id", "=", "role_owner")
        .where("project_id", "is", null)
        .execute();
      expect(owners, mode).toHaveLength(1);
    }
  });

  it("removing a member ends their access at once; removal from their last org revokes their sessions", async () => {
    const org = await h.newOrgWithOwner("remover");
    const m = await h.newMember(org.orgId, org.token, [{ roleId: "role_viewer" }], "gone");
    expect((await h.req("GET", `/v1/orgs/${org.orgId}`, { token: m.token })).status).toBe(200);
    expect((await h.req("DELETE", `/v1/orgs/${org.orgId}/members/${m.userId}`, { token: org.token })).status).toBe(204);
    // This was their only org: the session is gone.
    expect((await h.req("GET", "/v1/me", { token: m.token })).status).toBe(401);
    expect(await h.kw.db.kysely.selectFrom("sessions").select("id").where("user_id", "=", m.userId).execute()).toEqual(
      [],
    );
    expect(
      await h.kw.db.kysely.selectFrom("bindings").select("id").where("principal_id", "=", m.userId).execute(),
    ).toEqual([]);
    // Signing in again gives no way back in.
    const again = await h.login(m.email, "password-of-someone");
    expect((await h.req("GET", `/v1/orgs/${org.orgId}`, { token: again })).status).toBe(404);
    expect((await h.req("GET", "/v1/orgs", { token: again })).body.items).toEqual([]);
  });

  it("a member of several orgs keeps the session but loses the org they were removed from", async () => {
    const a = await h.newOrgWithOwner("multi-a");
    const b = await h.newOrgWithOwner("multi-b");
    const m = await h.newMember(a.orgId, a.token, [{ roleId: "role_viewer" }], "multi");
    const inv = await h.req("POST", `/v1/orgs/${b.orgId}/invitations`, {
      token: b.token,
      body: { email: m.email, roles: [{ roleId: "role_viewer" }] },
    });
    expect((await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, { token: m.token })).status).toBe(200);
    expect((await h.req("DELETE", `/v1/orgs/${a.orgId}/members/${m.userId}`, { token: a.token })).status).toBe(204);
    expect((await h.req("GET", "/v1/me", { token: m.token })).status).toBe(200);
    const orgs = await h.req("GET", "/v1/orgs", { token: m.token });
    expect(orgs.body.items.map((o: { id: string }) => o.id)).toEqual([b.orgId]);
  });

  it("lets a member leave on their own, without iam:members:manage", async () => {
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_viewer" }], "leaver");
    expect((await h.req("DELETE", `/v1/orgs/${owner.orgId}/members/${m.userId}`, { token: m.token })).status).toBe(204);
  });

  it("does not let a member's API key make them leave: a key leaves only with iam:members:manage, within its limits", async () => {
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_member" }], "keyholder");
    const leave = (token: string) => h.req("DELETE", `/v1/orgs/${owner.orgId}/members/${m.userId}`, { token });
    const key = async (body: Record<string, unknown>) => {
      const res = await h.req("POST", `/v1/orgs/${owner.orgId}/api-keys`, { token: m.token, body });
      expect(res.status).toBe(201);
      return res.body.secret as string;
    };
    // A read-only key, a key with the member's every permission: neither is the member's own hand.
    for (const secret of [await key({ name: "ro", readOnly: true }), await key({ name: "all" })]) {
      const res = await leave(secret);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("FORBIDDEN");
    }
    expect((await h.req("GET", `/v1/orgs/${owner.orgId}/members/${m.userId}`, { token: owner.token })).status).toBe(
      200,
    );
    // An owner's key may remove members, itself included, as long as it may write.
    const boss = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_owner" }], "boss2");
    const bossKey = await h.req("POST", `/v1/orgs/${owner.orgId}/api-keys`, { token: boss.token, body: { name: "k" } });
    expect(
      (await h.req("DELETE", `/v1/orgs/${owner.orgId}/members/${boss.userId}`, { token: bossKey.body.secret })).status,
    ).toBe(204);
  });
});
