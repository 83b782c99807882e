import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness, OWNER_EMAIL, OWNER_PASSWORD, type Res, describeEachDialect } from "../harness.js";

const IP = "203.0.113.9";
const UA = "audit-test/1.0";

/**
 * Every identity mutation writes one audit event with actor, action, target, org, UTC
 * time, IP and request id, in the same transaction as the change, and never a secret.
 */
describeEachDialect("audit events", (dialect) => {
  let h: Harness;
  let owner: { token: string; orgId: string; userId: string; email: string };
  let sessionId: string;

  beforeAll(async () => {
    h = await Harness.init(dialect);
    owner = await h.newOrgWithOwner("audited");
    const me = await h.req("GET", "/v1/me", { token: owner.token });
    sessionId = me.body.credential.id;
  });
  afterAll(async () => h?.close());

  /** `token` null: anonymous. */
  const call = (method: string, url: string, body?: unknown, token: string | null = owner.token) =>
    h.req(method, url, { token: token ?? undefined, body, ip: IP, headers: { "user-agent": UA } });

  async function eventOf(res: Res) {
    const requestId = String(res.headers["x-request-id"]);
    const rows = await h.kw.db.kysely
      .selectFrom("audit_events")
      .selectAll()
      .where("request_id", "=", requestId)
      .execute();
    expect(rows, `one event for ${requestId}`).toHaveLength(1);
    const e = rows[0];
    expect(e.id).toMatch(/^evt_[0-9A-Za-z]{24}$/);
    expect(e.ip).toBe(IP);
    expect(e.user_agent).toBe(UA);
    expect(e.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(e.created_at) - Date.now())).toBeLessThan(60_000);
    for (const secret of [OWNER_PASSWORD, "password-of-someone", owner.token, "audit-password-1", "audit-password-2"]) {
      expect(JSON.stringify(e)).not.toContain(secret);
    }
    return e;
  }

  const byOwner = (e: { actor_type: string; actor_id: string | null; actor_credential: string | null }) => {
    expect(e.actor_type).toBe("user");
    expect(e.actor_id).toBe(owner.userId);
    expect(e.actor_credential).toBe(sessionId);
  };

  it("org.create / org.update / org.delete", async () => {
    const created = await call("POST", "/v1/orgs", { name: "Audited org" });
    const orgId = created.body.id;
    const c = await eventOf(created);
    byOwner(c);
    expect(c).toMatchObject({
      action: "org.create",
      org_id: orgId,
      target_type: "org",
      target_id: orgId,
      result: "success",
    });
    const u = await eventOf(
      await call("PATCH", `/v1/orgs/${orgId}`, { name: "Renamed", settings: { requireExpiry: true } }),
    );
    expect(u).toMatchObject({ action: "org.update", org_id: orgId, target_id: orgId });
    expect(JSON.parse(u.details ?? "{}")).toEqual({
      before: { name: "Audited org", requireExpiry: false },
      after: { name: "Renamed", requireExpiry: true },
    });
    const d = await eventOf(await call("DELETE", `/v1/orgs/${orgId}`));
    expect(d).toMatchObject({ action: "org.delete", org_id: orgId, target_type: "org", target_id: orgId });
  });

  it("project.create / project.update / project.delete", async () => {
    const created = await call("POST", `/v1/orgs/${owner.orgId}/projects`, { name: "p" });
    const id = created.body.id;
    byOwner(await eventOf(created));
    expect(await eventOf(created)).toMatchObject({
      action: "project.create",
      org_id: owner.orgId,
      target_type: "project",
      target_id: id,
    });
    expect(await eventOf(await call("PATCH", `/v1/projects/${id}`, { name: "q" }))).toMatchObject({
      action: "project.update",
      target_id: id,
    });
    expect(await eventOf(await call("DELETE", `/v1/projects/${id}`))).toMatchObject({
      action: "project.delete",
      org_id: owner.orgId,
      target_id: id,
    });
  });

  it("service_account.create / update / delete", async () => {
    const created = await call("POST", `/v1/orgs/${owner.orgId}/service-accounts`, {
      name: "sa",
      roles: [{ roleId: "role_viewer" }],
    });
    const id = created.body.id;
    const c = await eventOf(created);
    expect(c).toMatchObject({
      action: "service_account.create",
      org_id: owner.orgId,
      target_type: "service_account",
      target_id: id,
    });
    expect(JSON.parse(c.details ?? "{}").after.roles).toEqual([{ roleId: "role_viewer", projectId: null }]); // as stored
    const u = await eventOf(await call("PATCH", `/v1/service-accounts/${id}`, { roles: [] }));
    expect(u).toMatchObject({ action: "service_account.update", target_id: id });
    expect(JSON.parse(u.details ?? "{}").after).toEqual({ roles: [] });
    expect(await eventOf(await call("DELETE", `/v1/service-accounts/${id}`))).toMatchObject({
      action: "service_account.delete",
      target_id: id,
    });
  });

  it("role.create / role.update / role.delete", async () => {
    const created = await call("POST", `/v1/orgs/${owner.orgId}/roles`, { name: "r", permissions: ["compute:read"] });
    const id = created.body.id;
    expect(await eventOf(created)).toMatchObject({
      action: "role.create",
      org_id: owner.orgId,
      target_type: "role",
      target_id: id,
    });
    const u = await eventOf(await call("PATCH", `/v1/roles/${id}`, { permissions: ["compute:*"] }));
    expect(JSON.parse(u.details ?? "{}")).toEqual({
      before: { permissions: ["compute:read"] },
      after: { permissions: ["compute:*"] },
    });
    expect(await eventOf(await call("DELETE", `/v1/roles/${id}`))).toMatchObject({
      action: "role.delete",
      target_id: id,
    });
  });

  it("invitation.create / invitation.accept / invitation.revoke, without the token", async () => {
    const inv = await call("POST", `/v1/orgs/${owner.orgId}/invitations`, {
      email: "audit-new@example.com",
      roles: [{ roleId: "role_viewer" }],
    });
    const c = await eventOf(inv);
    expect(c).toMatchObject({
      action: "invitation.create",
      org_id: owner.orgId,
      target_type: "invitation",
      target_id: inv.body.invitation.id,
    });
    expect(JSON.stringify(c)).not.toContain(inv.body.token);
    const accepted = await call(
      "POST",
      `/v1/invitations/${inv.body.token}/accept`,
      { name: "New", password: "audit-password-1" },
      null,
    );
    const a = await eventOf(accepted);
    expect(a).toMatchObject({
      action: "invitation.accept",
      org_id: owner.orgId,
      target_type: "user",
      target_id: accepted.body.userId,
    });
    expect(JSON.stringify(a)).not.toContain(inv.body.token);
    expect(JSON.parse(a.details ?? "{}").after).toMatchObject({
      invitationId: inv.body.invitation.id,
      invitedBy: owner.userId,
      created: true,
    });

    const other = await call("POST", `/v1/orgs/${owner.orgId}/invitations`, { email: "audit-revoked@example.com" });
    const r = await eventOf(await call("DELETE", `/v1/invitations/${other.body.invitation.id}`));
    expect(r).toMatchObject({ action: "invitation.revoke", org_id: owner.orgId, target_id: other.body.invitation.id });
  });

  it("member.update / member.remove", async () => {
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_viewer" }], "audmember");
    const u = await eventOf(
      await call("PATCH", `/v1/orgs/${owner.orgId}/members/${m.userId}`, { roles: [{ roleId: "role_member" }] }),
    );
    byOwner(u);
    expect(u).toMatchObject({ action: "member.update", org_id: owner.orgId, target_type: "user", target_id: m.userId });
    expect(JSON.parse(u.details ?? "{}")).toEqual({
      before: { roles: [{ roleId: "role_viewer", projectId: null }] },
      after: { roles: [{ roleId: "role_member", projectId: null }] },
    });
    expect(await eventOf(await call("DELETE", `/v1/orgs/${owner.orgId}/members/${m.userId}`))).toMatchObject({
      action: "member.remove",
      org_id: owner.orgId,
      target_id: m.userId,
    });
  });

  it("auth.login (success and denied), auth.logout, user.password.change", async () => {
    const denied = await eventOf(
      await call("POST", "/v1/auth/login", { email: OWNER_EMAIL, password: "wrong-password" }, null),
    );
    expect(denied).toMatchObject({
      action: "auth.login",
      result: "denied",
      actor_type: "anonymous",
      org_id: null,
      target_type: "user",
    });
    expect(JSON.stringify(denied)).not.toContain("wrong-password");
    const login = await call("POST", "/v1/auth/login", { email: OWNER_EMAIL, password: OWNER_PASSWORD }, null);
    const ok = await eventOf(login);
    expect(ok).toMatchObject({ action: "auth.login", result: "success", actor_type: "user", target_type: "user" });
    expect(JSON.stringify(ok)).not.toContain(login.body.token);
    const change = await call(
      "POST",
      "/v1/me/password",
      { currentPassword: OWNER_PASSWORD, newPassword: "audit-password-2" },
      login.body.token,
    );
    expect(change.status).toBe(204);
    expect(await eventOf(change)).toMatchObject({
      action: "user.password.change",
      actor_id: ok.actor_id,
      target_id: ok.actor_id,
    });
    const logout = await eventOf(await call("POST", "/v1/auth/logout", undefined, login.body.token));
    expect(logout).toMatchObject({ action: "auth.logout", actor_id: ok.actor_id });
  });

  it("writes a refused change as one denied event, and nothing of the change", async () => {
    const viewer = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_viewer" }], "refused");
    const res = await call("POST", `/v1/orgs/${owner.orgId}/projects`, { name: "nope" }, viewer.token);
    expect(res.status).toBe(403);
    expect(await eventOf(res)).toMatchObject({
      action: "project.create",
      result: "denied",
      actor_id: viewer.userId,
      org_id: owner.orgId,
    });
    const projects = await h.kw.db.kysely.selectFrom("projects").select("name").where("name", "=", "nope").execute();
    expect(projects).toEqual([]);
    // An admin's attempt to make itself owner: denied, with its target and the reason.
    const admin = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_admin" }], "climber");
    const climb = await call(
      "PATCH",
      `/v1/orgs/${owner.orgId}/members/${admin.userId}`,
      { roles: [{ roleId: "role_owner" }] },
      admin.token,
    );
    expect(climb.status).toBe(403);
    const e = await eventOf(climb);
    expect(e).toMatchObject({
      action: "member.update",
      result: "denied",
      target_type: "user",
      target_id: admin.userId,
    });
    expect(JSON.parse(e.details ?? "{}")).toMatchObject({ code: "FORBIDDEN", errors: [{ code: "escalation" }] });
    // A bad request is no refusal: nothing written.
    const bad = await call("POST", `/v1/orgs/${owner.orgId}/projects`, { name: "" }, viewer.token);
    expect(bad.status).toBe(400);
    const rows = await h.kw.db.kysely
      .selectFrom("audit_events")
      .select("id")
      .where("request_id", "=", String(bad.headers["x-request-id"]))
      .execute();
    expect(rows).toEqual([]);
  });

  describe("same transaction", () => {
    it("rolls the change back when its audit event cannot be written", async () => {
      const db = h.kw.db.kysely;
      await sql`alter table audit_events rename to audit_events_away`.execute(db);
      try {
        const res = await call("POST", `/v1/orgs/${owner.orgId}/projects`, { name: "unaudited" });
        expect(res.status).toBe(500);
        const org = await call("PATCH", `/v1/orgs/${owner.orgId}`, { name: "unaudited org" });
        expect(org.status).toBe(500);
      } finally {
        await sql`alter table audit_events_away rename to audit_events`.execute(db);
      }
      const projects = await db.selectFrom("projects").select("name").where("org_id", "=", owner.orgId).execute();
      expect(projects.map((p) => p.name)).not.toContain("unaudited");
      const org = await call("GET", `/v1/orgs/${owner.orgId}`);
      expect(org.body.name).not.toBe("unaudited org");
    });
  });
});
