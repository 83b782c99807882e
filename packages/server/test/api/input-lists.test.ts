import { afterAll, beforeAll, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { auditRows, mkKey, mkProject } from "./key-helpers.js";

/**
 * Lists with duplicates in them: an error names the entry's own index, and what is stored
 * (each binding once) is what the answer and the audit log say.
 */
describeEachDialect("lists with duplicates", (dialect) => {
  let h: Harness;
  let token: string;
  let orgId: string;
  beforeAll(async () => {
    h = await Harness.init(dialect);
    token = await h.login();
    orgId = h.operatorOrgId;
  });
  afterAll(async () => h?.close());

  it("key create: a bad permission after a duplicate is named at its own index", async () => {
    const res = await h.req("POST", `/v1/orgs/${orgId}/api-keys`, {
      token,
      body: { name: "k", permissions: ["compute:read", "compute:read", "nosuch:thing"] },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["permissions/2"]);
  });

  it("key create: a bad role after a duplicate is named at its own index", async () => {
    const res = await h.req("POST", `/v1/orgs/${orgId}/api-keys`, {
      token,
      body: { name: "k", roles: ["role_viewer", "role_viewer", "role_nope"] },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["roles/2"]);
  });

  it("key create: a bad project after a duplicate is named at its own index", async () => {
    const p = await mkProject(h, token, orgId, "dup");
    const res = await h.req("POST", `/v1/orgs/${orgId}/api-keys`, {
      token,
      body: { name: "k", allowedProjects: [p, p, "prj_doesnotexist"] },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["allowedProjects/2"]);
  });

  it("key update: a bad permission after a duplicate is named at its own index", async () => {
    const k = await mkKey(h, token, orgId, { name: "u", permissions: ["compute:read", "compute:write"] });
    const res = await h.req("PATCH", `/v1/api-keys/${k.id}`, {
      token,
      body: { permissions: ["compute:read", "compute:read", "nosuch:thing"] },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["permissions/2"]);
  });

  it("service account create with duplicate roles: the audit event records what was stored", async () => {
    const res = await h.req("POST", `/v1/orgs/${orgId}/service-accounts`, {
      token,
      body: { name: "dupsa", roles: [{ roleId: "role_viewer" }, { roleId: "role_viewer", projectId: null }] },
    });
    expect(res.status).toBe(201);
    expect(res.body.roles).toHaveLength(1);
    const ev = (await auditRows(h, orgId)).filter((r) => r.target_id === res.body.id);
    expect(ev).toHaveLength(1);
    const after = JSON.parse(ev[0].details as string).after;
    expect(after.roles).toEqual(res.body.roles);
  });

  it("member PATCH with duplicate roles: the audit event records what was stored", async () => {
    const m = await h.newMember(orgId, token, [{ roleId: "role_viewer" }]);
    const res = await h.req("PATCH", `/v1/orgs/${orgId}/members/${m.userId}`, {
      token,
      body: { roles: [{ roleId: "role_member" }, { roleId: "role_member" }] },
    });
    expect(res.status).toBe(200);
    expect(res.body.roles).toHaveLength(1);
    const ev = (await auditRows(h, orgId)).filter((r) => r.target_id === m.userId && r.action === "member.update");
    expect(ev).toHaveLength(1);
    expect(JSON.parse(ev[0].details as string).after.roles).toEqual(res.body.roles);
  });

  it("member PATCH with the same roles: no phantom before/after change", async () => {
    const m = await h.newMember(orgId, token, [{ roleId: "role_viewer" }], "same");
    const res = await h.req("PATCH", `/v1/orgs/${orgId}/members/${m.userId}`, {
      token,
      body: { roles: [{ roleId: "role_viewer" }] },
    });
    expect(res.status).toBe(200);
    const ev = (await auditRows(h, orgId)).filter((r) => r.target_id === m.userId && r.action === "member.update");
    expect(ev).toHaveLength(1);
    const d = JSON.parse(ev[0].details as string);
    expect(d.after.roles ?? null).toBeNull();
  });

  it("service account PATCH with the same roles: no phantom before/after change", async () => {
    const sa = await h.req("POST", `/v1/orgs/${orgId}/service-accounts`, {
      token,
      body: { name: "samesa", roles: [{ roleId: "role_viewer" }] },
    });
    const res = await h.req("PATCH", `/v1/service-accounts/${sa.body.id}`, {
      token,
      body: { roles: [{ roleId: "role_viewer" }] },
    });
    expect(res.status).toBe(200);
    const ev = (await auditRows(h, orgId)).filter(
      (r) => r.target_id === sa.body.id && r.action === "service_account.update",
    );
    expect(ev).toHaveLength(1);
    const d = JSON.parse(ev[0].details as string);
    expect(d.after.roles ?? null).toBeNull();
  });

  it("stores an invitation's duplicate roles once", async () => {
    const res = await h.req("POST", `/v1/orgs/${orgId}/invitations`, {
      token,
      body: { email: "dupinv@example.com", roles: [{ roleId: "role_viewer" }, { roleId: "role_viewer" }] },
    });
    expect(res.status).toBe(201);
    expect(res.body.invitation.roles).toHaveLength(1);
  });
});
