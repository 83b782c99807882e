import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";

/**
 * Every ID-taking endpoint × every kind of caller who must not get through:
 * anonymous → 401, the owner of another org → 404 (ids do not leak), a member of the
 * same org without bindings → 403, a viewer → 403 on writes (200 on reads), and the owner's
 * own credentials kept to another project (a key's `allowedProjects`, a token narrowed with
 * `projectId`) → 403: such a credential does nothing outside its projects, org-wide
 * requests included, exactly as verify decides (`PROJECT_NOT_ALLOWED`).
 */
interface Fixture {
  orgId: string;
  projectId: string;
  serviceAccountId: string;
  roleId: string;
  invitationId: string;
  memberId: string;
}

interface Row {
  name: string;
  method: "GET" | "POST" | "PATCH" | "DELETE";
  url: (f: Fixture) => string;
  body?: unknown;
  read: boolean;
}

const ROWS: Row[] = [
  { name: "read org", method: "GET", url: (f) => `/v1/orgs/${f.orgId}`, read: true },
  { name: "update org", method: "PATCH", url: (f) => `/v1/orgs/${f.orgId}`, body: { name: "hijacked" }, read: false },
  {
    name: "update org settings",
    method: "PATCH",
    url: (f) => `/v1/orgs/${f.orgId}`,
    body: { settings: { requireExpiry: true } },
    read: false,
  },
  { name: "delete org", method: "DELETE", url: (f) => `/v1/orgs/${f.orgId}`, read: false },

  { name: "list projects", method: "GET", url: (f) => `/v1/orgs/${f.orgId}/projects`, read: true },
  {
    name: "create project",
    method: "POST",
    url: (f) => `/v1/orgs/${f.orgId}/projects`,
    body: { name: "p2" },
    read: false,
  },
  { name: "read project", method: "GET", url: (f) => `/v1/projects/${f.projectId}`, read: true },
  {
    name: "update project",
    method: "PATCH",
    url: (f) => `/v1/projects/${f.projectId}`,
    body: { name: "renamed" },
    read: false,
  },
  { name: "delete project", method: "DELETE", url: (f) => `/v1/projects/${f.projectId}`, read: false },

  { name: "list service accounts", method: "GET", url: (f) => `/v1/orgs/${f.orgId}/service-accounts`, read: true },
  {
    name: "create service account",
    method: "POST",
    url: (f) => `/v1/orgs/${f.orgId}/service-accounts`,
    body: { name: "sa2" },
    read: false,
  },
  { name: "read service account", method: "GET", url: (f) => `/v1/service-accounts/${f.serviceAccountId}`, read: true },
  {
    name: "update service account",
    method: "PATCH",
    url: (f) => `/v1/service-accounts/${f.serviceAccountId}`,
    body: { name: "renamed" },
    read: false,
  },
  {
    name: "bind roles to service account",
    method: "PATCH",
    url: (f) => `/v1/service-accounts/${f.serviceAccountId}`,
    body: { roles: [{ roleId: "role_viewer" }] },
    read: false,
  },
  {
    name: "delete service account",
    method: "DELETE",
    url: (f) => `/v1/service-accounts/${f.serviceAccountId}`,
    read: false,
  },

  { name: "list roles", method: "GET", url: (f) => `/v1/orgs/${f.orgId}/roles`, read: true },
  {
    name: "create role",
    method: "POST",
    url: (f) => `/v1/orgs/${f.orgId}/roles`,
    body: { name: "r2", permissions: ["compute:read"] },
    read: false,
  },
  { name: "read role", method: "GET", url: (f) => `/v1/roles/${f.roleId}`, read: true },
  {
    name: "update role",
    method: "PATCH",
    url: (f) => `/v1/roles/${f.roleId}`,
    body: { description: "changed" },
    read: false,
  },
  { name: "delete role", method: "DELETE", url: (f) => `/v1/roles/${f.roleId}`, read: false },

  { name: "list members", method: "GET", url: (f) => `/v1/orgs/${f.orgId}/members`, read: true },
  { name: "read member", method: "GET", url: (f) => `/v1/orgs/${f.orgId}/members/${f.memberId}`, read: true },
  {
    name: "change member roles",
    method: "PATCH",
    url: (f) => `/v1/orgs/${f.orgId}/members/${f.memberId}`,
    body: { roles: [{ roleId: "role_viewer" }] },
    read: false,
  },
  { name: "remove member", method: "DELETE", url: (f) => `/v1/orgs/${f.orgId}/members/${f.memberId}`, read: false },

  { name: "list invitations", method: "GET", url: (f) => `/v1/orgs/${f.orgId}/invitations`, read: true },
  {
    name: "invite",
    method: "POST",
    url: (f) => `/v1/orgs/${f.orgId}/invitations`,
    body: { email: "newbie@example.com" },
    read: false,
  },
  { name: "revoke invitation", method: "DELETE", url: (f) => `/v1/invitations/${f.invitationId}`, read: false },
];

describeEachDialect("authorization matrix", (dialect) => {
  let h: Harness;
  let f: Fixture;
  let outsider: string; // owner of another org
  let nobody: string; // member of the org without any binding
  let viewer: string; // member with role_viewer
  let ownerToken: string;
  /** The owner's credentials, kept to `elsewhere`: a key, and a token narrowed from an unlimited key. */
  let confined: { key: string; token: string };
  let elsewhere: string;

  beforeAll(async () => {
    h = await Harness.init(dialect);
    const a = await h.newOrgWithOwner("alpha");
    ownerToken = a.token;
    outsider = (await h.newOrgWithOwner("bravo")).token;
    const as = (body: unknown) => ({ token: a.token, body });
    const project = await h.req("POST", `/v1/orgs/${a.orgId}/projects`, as({ name: "p1" }));
    const sa = await h.req("POST", `/v1/orgs/${a.orgId}/service-accounts`, as({ name: "sa1" }));
    const role = await h.req(
      "POST",
      `/v1/orgs/${a.orgId}/roles`,
      as({ name: "custom", permissions: ["compute:read"] }),
    );
    const inv = await h.req("POST", `/v1/orgs/${a.orgId}/invitations`, as({ email: "pending@example.com" }));
    const member = await h.newMember(a.orgId, a.token, [{ roleId: "role_member" }], "target");
    nobody = (await h.newMember(a.orgId, a.token, [], "nobody")).token;
    viewer = (await h.newMember(a.orgId, a.token, [{ roleId: "role_viewer" }], "viewer")).token;
    const other = await h.req("POST", `/v1/orgs/${a.orgId}/projects`, as({ name: "p-elsewhere" }));
    elsewhere = other.body.id;
    const key = await h.req("POST", `/v1/orgs/${a.orgId}/api-keys`, as({ name: "kept", allowedProjects: [elsewhere] }));
    const wide = await h.req("POST", `/v1/orgs/${a.orgId}/api-keys`, as({ name: "wide" }));
    const exchanged = await h.req("POST", "/v1/token", {
      body: {
        grant_type: "urn:keyward:params:oauth:grant-type:apikey",
        apikey: wide.body.secret,
        projectId: elsewhere,
      },
    });
    expect(exchanged.status).toBe(200);
    confined = { key: key.body.secret, token: exchanged.body.access_token };
    for (const r of [project, sa, role, inv, other, key, wide]) expect(r.status).toBe(201);
    f = {
      orgId: a.orgId,
      projectId: project.body.id,
      serviceAccountId: sa.body.id,
      roleId: role.body.id,
      invitationId: inv.body.invitation.id,
      memberId: member.userId,
    };
  });
  afterAll(async () => h?.close());

  describe("anonymous → 401", () => {
    it.each(ROWS.map((r) => [r.name, r] as const))("%s", async (_n, row) => {
      const res = await h.req(row.method, row.url(f), { body: row.body });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("UNAUTHENTICATED");
      expect(res.headers["content-type"]).toContain("application/problem+json");
    });

    it("gets 401 for ids that do not exist too (no existence oracle)", async () => {
      for (const url of [
        "/v1/projects/prj_nope",
        "/v1/service-accounts/sa_nope",
        "/v1/roles/role_nope",
        "/v1/orgs/org_nope",
      ]) {
        expect((await h.req("GET", url)).status).toBe(401);
      }
      expect((await h.req("DELETE", "/v1/invitations/inv_nope")).status).toBe(401);
    });
  });

  describe("owner of another org → 404", () => {
    it.each(ROWS.map((r) => [r.name, r] as const))("%s", async (_n, row) => {
      const res = await h.req(row.method, row.url(f), { token: outsider, body: row.body });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe("NOT_FOUND");
    });
  });

  describe("member without bindings → 403", () => {
    it.each(ROWS.map((r) => [r.name, r] as const))("%s", async (_n, row) => {
      const res = await h.req(row.method, row.url(f), { token: nobody, body: row.body });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("FORBIDDEN");
    });
  });

  describe("viewer → 200 on reads, 403 on writes", () => {
    it.each(ROWS.map((r) => [r.name, r] as const))("%s", async (_n, row) => {
      const res = await h.req(row.method, row.url(f), { token: viewer, body: row.body });
      expect(res.status).toBe(row.read ? 200 : 403);
    });
  });

  describe("the owner's credentials kept to another project → 403", () => {
    const cases = ROWS.flatMap((r) => (["key", "token"] as const).map((c) => [`${r.name} (${c})`, r, c] as const));
    it.each(cases)("%s", async (_n, row, credential) => {
      const res = await h.req(row.method, row.url(f), { token: confined[credential], body: row.body });
      if (row.name === "list projects") {
        // A list shows what the caller may read: its own project, nothing org-wide.
        expect(res.status).toBe(200);
        expect(res.body.items.map((p: { id: string }) => p.id)).toEqual([elsewhere]);
        return;
      }
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("FORBIDDEN");
    });

    it("still acts inside its project and on its own keys", async () => {
      for (const token of Object.values(confined)) {
        const read = await h.req("GET", `/v1/projects/${elsewhere}`, { token });
        expect(read.status).toBe(200);
        const renamed = await h.req("PATCH", `/v1/projects/${elsewhere}`, { token, body: { name: "p-renamed" } });
        expect(renamed.status).toBe(200);
        const mine = await h.req("GET", `/v1/orgs/${f.orgId}/api-keys`, { token });
        expect(mine.status).toBe(200);
        expect(mine.body.items.map((k: { name: string }) => k.name).sort()).toEqual(["kept", "wide"]);
        const keys = `/v1/orgs/${f.orgId}/api-keys`;
        expect((await h.req("POST", keys, { token, body: { name: "org-wide" } })).status).toBe(403);
        const inside = await h.req("POST", keys, { token, body: { name: "inside", allowedProjects: [elsewhere] } });
        expect(inside.status).toBe(201);
        expect((await h.req("DELETE", `/v1/api-keys/${inside.body.apiKey.id}`, { token })).status).toBe(204);
        const wide = mine.body.items.find((k: { name: string }) => k.name === "wide");
        expect((await h.req("POST", `/v1/api-keys/${wide.id}/regenerate`, { token, body: {} })).status).toBe(403);
        expect((await h.req("PATCH", `/v1/api-keys/${wide.id}`, { token, body: { name: "wide" } })).status).toBe(200);
      }
    });
  });

  it("left everything in place (nothing above changed state)", async () => {
    for (const row of ROWS.filter((r) => r.read)) {
      const res = await h.req("GET", row.url(f), { token: ownerToken });
      expect(res.status, row.name).toBe(200);
    }
    const org = await h.req("GET", `/v1/orgs/${f.orgId}`, { token: ownerToken });
    expect(org.body.name).toBe("alpha org");
    expect(org.body.settings.requireExpiry).toBe(false);
    const pending = await h.req("GET", `/v1/orgs/${f.orgId}/invitations`, { token: ownerToken });
    expect(pending.body.items.map((i: { email: string }) => i.email)).toEqual(["pending@example.com"]);
  });
});
