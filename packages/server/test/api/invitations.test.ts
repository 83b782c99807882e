import { afterAll, beforeAll, expect, it } from "vitest";
import { Harness, OWNER_EMAIL, OWNER_PASSWORD, describeEachDialect } from "../harness.js";

describeEachDialect("invitations", (dialect) => {
  let h: Harness;
  let owner: { token: string; orgId: string; userId: string; email: string };

  beforeAll(async () => {
    h = await Harness.init(dialect);
    owner = await h.newOrgWithOwner("inviter");
  });
  afterAll(async () => h?.close());

  const invite = (email: string, roles?: unknown, token = owner.token, orgId = owner.orgId) =>
    h.req("POST", `/v1/orgs/${orgId}/invitations`, { token, body: roles === undefined ? { email } : { email, roles } });

  it("invites by email with roles; the token is returned once and only its hash is stored", async () => {
    const res = await invite("New.Person@Example.com", [{ roleId: "role_viewer" }]);
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^inv_[0-9A-Za-z]{40}$/);
    expect(res.body.invitation).toMatchObject({
      orgId: owner.orgId,
      email: "new.person@example.com",
      roles: [{ roleId: "role_viewer", projectId: null }],
      invitedBy: owner.userId,
      acceptedAt: null,
    });
    expect(res.body.invitation.id).toMatch(/^inv_[0-9A-Za-z]{24}$/);
    const days = (Date.parse(res.body.invitation.expiresAt) - Date.parse(res.body.invitation.createdAt)) / 86400_000;
    expect(days).toBe(7);
    const rows = JSON.stringify(await h.kw.db.kysely.selectFrom("invitations").selectAll().execute());
    expect(rows).not.toContain(res.body.token);
    const list = await h.req("GET", `/v1/orgs/${owner.orgId}/invitations`, { token: owner.token });
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(res.body.token);
    expect(list.body.items.map((i: { id: string }) => i.id)).toContain(res.body.invitation.id);
  });

  it("defaults to the member role", async () => {
    const res = await invite(`default-${Date.now()}@example.com`);
    expect(res.body.invitation.roles).toEqual([{ roleId: "role_member", projectId: null }]);
  });

  it("accepting creates the user, records invitedBy and binds the roles", async () => {
    const inv = await invite("fresh@example.com", [{ roleId: "role_viewer" }]);
    const noPassword = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, { body: { name: "Fresh" } });
    expect(noPassword.status).toBe(400);
    expect(noPassword.body.errors[0].path).toBe("password");
    const shortPassword = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, {
      body: { name: "Fresh", password: "short" },
    });
    expect(shortPassword.status).toBe(400);
    const acc = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, {
      body: { name: "Fresh", password: "fresh-password-1" },
    });
    expect(acc.status).toBe(200);
    expect(acc.body).toMatchObject({ orgId: owner.orgId, created: true });
    const member = await h.req("GET", `/v1/orgs/${owner.orgId}/members/${acc.body.userId}`, { token: owner.token });
    expect(member.body).toMatchObject({
      email: "fresh@example.com",
      name: "Fresh",
      invitedBy: owner.userId,
      roles: [{ roleId: "role_viewer", projectId: null }],
    });
    const user = await h.kw.db.kysely
      .selectFrom("users")
      .select("password_hash")
      .where("id", "=", acc.body.userId)
      .executeTakeFirstOrThrow();
    expect(user.password_hash).toMatch(/^\$argon2id\$/);
    await h.login("fresh@example.com", "fresh-password-1");
    // Used once.
    const again = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, {
      body: { name: "Fresh", password: "fresh-password-1" },
    });
    expect(again.status).toBe(404);
    const pending = await h.req("GET", `/v1/orgs/${owner.orgId}/invitations`, { token: owner.token });
    expect(pending.body.items.map((i: { id: string }) => i.id)).not.toContain(inv.body.invitation.id);
  });

  it("adds an existing user, who must accept it signed in as themselves", async () => {
    const inv = await invite(OWNER_EMAIL, [{ roleId: "role_viewer" }]);
    expect(inv.status).toBe(201);
    const anonymous = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`);
    expect(anonymous.status).toBe(401);
    // The inviter holds the token but cannot pull someone else's account into the org.
    const byInviter = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, { token: owner.token });
    expect(byInviter.status).toBe(403);
    const token = await h.login(OWNER_EMAIL, OWNER_PASSWORD);
    const acc = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, { token });
    expect(acc.status).toBe(200);
    expect(acc.body.created).toBe(false);
    const orgs = await h.req("GET", "/v1/orgs", { token });
    expect(orgs.body.items.map((o: { id: string }) => o.id)).toContain(owner.orgId);
    // Password unchanged, and nothing created.
    expect(
      (await h.kw.db.kysely.selectFrom("users").select("id").where("email", "=", OWNER_EMAIL).execute()).length,
    ).toBe(1);
  });

  it("refuses to invite someone who is already a member", async () => {
    const res = await invite(owner.email);
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ path: "email", code: "already_member" });
  });

  it("answers a second invitation accepted by a member 409 and leaves it pending (its roles were dropped as it read as accepted)", async () => {
    const email = "twice@example.com";
    const viewer = await invite(email, [{ roleId: "role_viewer" }]);
    const admin = await invite(email, [{ roleId: "role_admin" }]);
    const body = { name: "Twice", password: "twice-password-123" };
    const first = await h.req("POST", `/v1/invitations/${viewer.body.token}/accept`, { body });
    expect(first.status).toBe(200);
    const token = await h.login(email, body.password);
    const second = await h.req("POST", `/v1/invitations/${admin.body.token}/accept`, { token });
    expect(second.status).toBe(409);
    const pending = await h.req("GET", `/v1/orgs/${owner.orgId}/invitations`, { token: owner.token });
    expect(pending.body.items.map((i: { id: string }) => i.id)).toContain(admin.body.invitation.id);
    const me = await h.req("GET", `/v1/orgs/${owner.orgId}/members/${first.body.userId}`, { token: owner.token });
    expect(me.body.roles).toEqual([{ roleId: "role_viewer", projectId: null }]);
  });

  it("is accepted by a person, not with an API key or a token", async () => {
    const inv = await invite("by-key@example.com");
    const key = await h.req("POST", `/v1/orgs/${owner.orgId}/api-keys`, { token: owner.token, body: { name: "k" } });
    const res = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, {
      token: key.body.secret,
      body: { name: "Made by a key", password: "made-by-a-key-123" },
    });
    expect(res.status).toBe(403);
    expect(
      (await h.kw.db.kysely.selectFrom("users").select("id").where("email", "=", "by-key@example.com").execute())
        .length,
    ).toBe(0);
  });

  it("rejects unknown, expired and revoked tokens with 404", async () => {
    const unknown = await h.req("POST", `/v1/invitations/inv_${"a".repeat(40)}/accept`, {
      body: { name: "x", password: "password-long-enough" },
    });
    expect(unknown.status).toBe(404);
    const malformed = await h.req("POST", "/v1/invitations/nope/accept", { body: {} });
    expect(malformed.status).toBe(400);

    const expired = await invite("expired@example.com");
    await h.kw.db.kysely
      .updateTable("invitations")
      .set({ expires_at: "2000-01-01T00:00:00.000Z" })
      .where("id", "=", expired.body.invitation.id)
      .execute();
    const e = await h.req("POST", `/v1/invitations/${expired.body.token}/accept`, {
      body: { name: "x", password: "password-long-enough" },
    });
    expect(e.status).toBe(404);

    const revoked = await invite("revoked@example.com");
    expect(
      (await h.req("DELETE", `/v1/invitations/${revoked.body.invitation.id}`, { token: owner.token })).status,
    ).toBe(204);
    expect(
      (await h.req("DELETE", `/v1/invitations/${revoked.body.invitation.id}`, { token: owner.token })).status,
    ).toBe(404);
    const r = await h.req("POST", `/v1/invitations/${revoked.body.token}/accept`, {
      body: { name: "x", password: "password-long-enough" },
    });
    expect(r.status).toBe(404);
  });

  it("checks the roles: they must exist here, and the inviter must hold what they grant", async () => {
    const unknown = await invite("a@example.com", [{ roleId: "role_doesnotexist" }]);
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].path).toBe("roles/0/roleId");
    const other = await h.newOrgWithOwner("elsewhere");
    const foreignProject = await h.req("POST", `/v1/orgs/${other.orgId}/projects`, {
      token: other.token,
      body: { name: "theirs" },
    });
    const wrongProject = await invite("b@example.com", [{ roleId: "role_viewer", projectId: foreignProject.body.id }]);
    expect(wrongProject.status).toBe(400);
    expect(wrongProject.body.errors[0].path).toBe("roles/0/projectId");

    // An admin (all iam:* but org deletion) cannot invite an owner, nor a viewer (whose
    // *:read covers the operator's product permissions, which admin lacks).
    const admin = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_admin" }], "admin");
    const escalate = await invite("c@example.com", [{ roleId: "role_owner" }], admin.token);
    expect(escalate.status).toBe(403);
    expect(escalate.body.code).toBe("FORBIDDEN");
    expect(escalate.body.errors[0]).toMatchObject({ path: "roles/0/roleId", code: "escalation" });
    expect((await invite("c2@example.com", [{ roleId: "role_viewer" }], admin.token)).status).toBe(403);
    expect((await invite("d@example.com", [{ roleId: "role_admin" }], admin.token)).status).toBe(201);
    // A viewer cannot invite at all.
    const viewer = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_viewer" }], "viewer");
    expect((await invite("e@example.com", [{ roleId: "role_viewer" }], viewer.token)).status).toBe(403);
  });

  it("drops bindings whose project was deleted before the invitation was accepted", async () => {
    const project = await h.req("POST", `/v1/orgs/${owner.orgId}/projects`, {
      token: owner.token,
      body: { name: "short-lived" },
    });
    const inv = await invite("late@example.com", [
      { roleId: "role_viewer" },
      { roleId: "role_admin", projectId: project.body.id },
    ]);
    expect(inv.status).toBe(201);
    expect((await h.req("DELETE", `/v1/projects/${project.body.id}`, { token: owner.token })).status).toBe(204);
    const acc = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, {
      body: { name: "Late", password: "late-password-1" },
    });
    expect(acc.status).toBe(200);
    const member = await h.req("GET", `/v1/orgs/${owner.orgId}/members/${acc.body.userId}`, { token: owner.token });
    expect(member.body.roles).toEqual([{ roleId: "role_viewer", projectId: null }]);
  });

  it("records an invitation tree: invitedBy is the member who invited", async () => {
    const admin = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_admin" }], "mid");
    const leaf = await h.newMember(owner.orgId, admin.token, [{ roleId: "role_admin" }], "leaf");
    const members = await h.req("GET", `/v1/orgs/${owner.orgId}/members?limit=200`, { token: owner.token });
    const byId = new Map(
      members.body.items.map((m: { userId: string; invitedBy: string | null }) => [m.userId, m.invitedBy]),
    );
    expect(byId.get(owner.userId)).toBeNull();
    expect(byId.get(admin.userId)).toBe(owner.userId);
    expect(byId.get(leaf.userId)).toBe(admin.userId);
  });
});
