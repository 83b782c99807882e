import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { auditRows, effective, mkKey, mkProject, mkRole, mkServiceAccount, resolved } from "./key-helpers.js";

/** @see issue 3: owners, effective permissions, others' keys */
describeEachDialect("api key owners", (dialect) => {
  let h: Harness;
  let owner: string;
  let org: string;
  beforeEach(async () => {
    h = await Harness.init(dialect);
    owner = await h.login();
    org = h.operatorOrgId;
  });
  afterEach(async () => h.close());

  const create = (token: string, body: Record<string, unknown>) =>
    h.req("POST", `/v1/orgs/${org}/api-keys`, { token, body });

  describe("service-account keys", () => {
    it("need rights over the service account and act as it", async () => {
      const sa = await mkServiceAccount(h, owner, org, [{ roleId: "role_viewer" }]);
      const member = await h.newMember(org, owner, [{ roleId: "role_member" }]);
      const denied = await create(member.token, { name: "x", owner: { type: "service_account", id: sa } });
      expect(denied.status).toBe(403);
      const k = await mkKey(h, owner, org, { name: "robot", owner: { type: "service_account", id: sa } });
      expect(k.key.owner).toEqual({ type: "service_account", id: sa });
      // Fixed at the creator's grantable set, then bounded by the account's own grants.
      expect(k.key.inheritsOwnerPermissions).toBe(false);
      const eff = await effective(h, k.secret);
      expect(eff).toContain("compute:read");
      expect(eff).not.toContain("compute:write");
      const me = await h.req("GET", "/v1/me", { token: k.secret });
      expect(me.body.principal).toEqual({ type: "service_account", id: sa });
      const rows = await auditRows(h, org);
      expect(
        rows.some((r) => r.action === "api_key.create" && r.result === "denied" && r.actor_id === member.userId),
      ).toBe(true);
    });

    it("rejects an unknown service account naming owner/id", async () => {
      const res = await create(owner, { name: "x", owner: { type: "service_account", id: "sa_nothere" } });
      expect(res.status).toBe(400);
      expect(res.body.errors[0].path).toBe("owner/id");
    });

    it("go away with their service account", async () => {
      const sa = await mkServiceAccount(h, owner, org, [{ roleId: "role_viewer" }]);
      const k = await mkKey(h, owner, org, { name: "robot", owner: { type: "service_account", id: sa } });
      expect((await h.req("DELETE", `/v1/service-accounts/${sa}`, { token: owner })).status).toBe(204);
      expect((await h.req("GET", `/v1/api-keys/${k.id}`, { token: owner })).status).toBe(404);
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret })).status).toBe(401);
    });
  });

  describe("project keys", () => {
    it("act only inside their project and outlive the user who made them", async () => {
      const p = await mkProject(h, owner, org, "a");
      const q = await mkProject(h, owner, org, "b");
      const lead = await mkRole(h, owner, org, [
        "iam:projects:read",
        "iam:projects:update",
        "iam:apikeys:create",
        "compute:*",
      ]);
      const m = await h.newMember(org, owner, [{ roleId: "role_viewer" }, { roleId: lead, projectId: p }]);
      expect((await create(m.token, { name: "x", owner: { type: "project", id: q } })).status).toBe(403);
      const wider = await create(m.token, {
        name: "x",
        owner: { type: "project", id: p },
        permissions: ["storage:write"],
      });
      expect(wider.status).toBe(403);
      const k = await mkKey(h, m.token, org, {
        name: "deploy",
        owner: { type: "project", id: p },
        permissions: ["iam:projects:read", "compute:write"],
      });
      expect(k.key.owner).toEqual({ type: "project", id: p });
      expect((await h.req("GET", `/v1/projects/${p}`, { token: k.secret })).status).toBe(200);
      expect((await h.req("GET", `/v1/projects/${q}`, { token: k.secret })).status).toBe(403);
      expect((await h.req("GET", `/v1/orgs/${org}/members`, { token: k.secret })).status).toBe(403);
      expect(await effective(h, k.secret, p)).toEqual(["compute:write", "iam:projects:read"]);
      const d = (await resolved(h, k.secret))!;
      expect(d.owner).toEqual({ type: "project", id: p });
      // The member leaves; the project's key stays.
      expect((await h.req("DELETE", `/v1/orgs/${org}/members/${m.userId}`, { token: owner })).status).toBe(204);
      expect((await h.req("GET", `/v1/projects/${p}`, { token: k.secret })).status).toBe(200);
    });

    it("without an explicit list get exactly what their creator may grant in the project", async () => {
      const p = await mkProject(h, owner, org);
      const lead = await mkRole(h, owner, org, ["iam:projects:update", "iam:apikeys:create", "storage:read"]);
      const m = await h.newMember(org, owner, [{ roleId: lead, projectId: p }]);
      const k = await mkKey(h, m.token, org, { name: "p", owner: { type: "project", id: p } });
      expect(k.key.permissions).toEqual(["iam:apikeys:create", "iam:projects:update", "storage:read"]);
    });

    it("go away with their project", async () => {
      const p = await mkProject(h, owner, org);
      const k = await mkKey(h, owner, org, {
        name: "p",
        owner: { type: "project", id: p },
        permissions: ["compute:read"],
      });
      expect((await h.req("DELETE", `/v1/projects/${p}`, { token: owner })).status).toBe(204);
      expect(
        await h.kw.db.kysely.selectFrom("api_keys").select("id").where("id", "=", k.id).executeTakeFirst(),
      ).toBeUndefined();
    });
  });

  describe("keys creating keys", () => {
    it("a service-account key and a project key create keys for their own principal, within themselves", async () => {
      const sa = await mkServiceAccount(h, owner, org, [{ roleId: "role_member" }]);
      const sk = await mkKey(h, owner, org, {
        name: "s",
        owner: { type: "service_account", id: sa },
        permissions: ["iam:apikeys:create", "compute:read"],
      });
      const child = await create(sk.secret, { name: "child" });
      expect(child.status).toBe(201);
      expect(child.body.apiKey.owner).toEqual({ type: "service_account", id: sa });
      expect(child.body.apiKey.permissions.sort()).toEqual(["compute:read", "iam:apikeys:create"]);
      expect((await create(sk.secret, { name: "w", permissions: ["compute:write"] })).status).toBe(403);
      const p = await mkProject(h, owner, org);
      const pk = await mkKey(h, owner, org, {
        name: "p",
        owner: { type: "project", id: p },
        permissions: ["iam:apikeys:create", "storage:read"],
      });
      expect((await create(pk.secret, { name: "org-wide", owner: { type: "user", id: "usr_x" } })).status).toBe(403);
      const pchild = await create(pk.secret, { name: "pchild", permissions: ["storage:read"] });
      expect(pchild.status).toBe(201);
      expect(pchild.body.apiKey.owner).toEqual({ type: "project", id: p });
      const mine = await h.req("GET", `/v1/orgs/${org}/api-keys`, { token: pk.secret });
      expect(mine.body.items.map((k: { id: string }) => k.id).sort()).toEqual([pk.id, pchild.body.apiKey.id].sort());
    });
  });

  describe("regenerate cannot take power", () => {
    it("refuses to hand a wider key's secret to a narrower caller", async () => {
      const sa = await mkServiceAccount(h, owner, org, [{ roleId: "role_owner" }]);
      const sk = await mkKey(h, owner, org, {
        name: "wide",
        owner: { type: "service_account", id: sa },
        permissions: ["compute:write", "iam:orgs:read"],
      });
      const admin = await h.newMember(org, owner, [{ roleId: "role_admin" }], "admin");
      const res = await h.req("POST", `/v1/api-keys/${sk.id}/regenerate`, { token: admin.token });
      expect(res.status).toBe(403);
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: sk.secret })).status).toBe(200);
      const narrowSa = await mkKey(h, owner, org, {
        name: "narrow",
        owner: { type: "service_account", id: sa },
        permissions: ["iam:orgs:read"],
      });
      expect((await h.req("POST", `/v1/api-keys/${narrowSa.id}/regenerate`, { token: admin.token })).status).toBe(200);
      // A narrow key of a user cannot regenerate that user's all-powerful key.
      const full = await mkKey(h, owner, org, { name: "full" });
      const narrow = await mkKey(h, owner, org, {
        name: "narrow",
        permissions: ["iam:apikeys:create", "iam:orgs:read"],
      });
      expect((await h.req("POST", `/v1/api-keys/${full.id}/regenerate`, { token: narrow.secret })).status).toBe(403);
      expect((await h.req("POST", `/v1/api-keys/${full.id}/regenerate`, { token: owner })).status).toBe(200);
    });
  });

  describe("effective permissions", () => {
    it("narrow at once when the owner's roles change, and stop when the owner leaves", async () => {
      const m = await h.newMember(org, owner, [{ roleId: "role_member" }]);
      const k = await mkKey(h, m.token, org, { name: "mine" });
      expect(await effective(h, k.secret)).toContain("compute:write");
      await h.req("PATCH", `/v1/orgs/${org}/members/${m.userId}`, {
        token: owner,
        body: { roles: [{ roleId: "role_viewer" }] },
      });
      const after = await effective(h, k.secret);
      expect(after).toContain("compute:read");
      expect(after).not.toContain("compute:write");
      expect((await h.req("DELETE", `/v1/orgs/${org}/members/${m.userId}`, { token: owner })).status).toBe(204);
      expect((await resolved(h, k.secret))?.ownerActive).toBe(false);
      const res = await h.req("GET", `/v1/orgs/${org}`, { token: k.secret });
      expect(res.status).toBe(401);
    });

    it("follow a role's permissions when the key carries the role", async () => {
      const role = await mkRole(h, owner, org, ["compute:read", "compute:write"]);
      const k = await mkKey(h, owner, org, { name: "r", roles: [role] });
      expect(await effective(h, k.secret)).toEqual(["compute:read", "compute:write"]);
      await h.req("PATCH", `/v1/roles/${role}`, { token: owner, body: { permissions: ["compute:read"] } });
      expect(await effective(h, k.secret)).toEqual(["compute:read"]);
    });

    it("hold per project what the owner holds per project", async () => {
      const p = await mkProject(h, owner, org);
      const m = await h.newMember(org, owner, [{ roleId: "role_viewer" }, { roleId: "role_member", projectId: p }]);
      const denied = await create(m.token, { name: "org-wide", permissions: ["compute:write"] });
      expect(denied.status).toBe(403);
      const k = await mkKey(h, m.token, org, { name: "p", permissions: ["compute:write"], allowedProjects: [p] });
      expect(await effective(h, k.secret)).toEqual([]);
      expect(await effective(h, k.secret, p)).toEqual(["compute:write"]);
    });
  });

  describe("others' keys", () => {
    it("a key an administrator disabled is enabled again only by an administrator", async () => {
      const m = await h.newMember(org, owner, [{ roleId: "role_member" }], "governed");
      const k = await mkKey(h, m.token, org, { name: "leaked?", permissions: ["compute:read"] });
      const sibling = await mkKey(h, m.token, org, { name: "sibling", permissions: ["iam:apikeys:create"] });
      const post = (token: string, what: "disable" | "enable") =>
        h.req("POST", `/v1/api-keys/${k.id}/${what}`, { token, body: {} });
      expect((await post(owner, "disable")).status).toBe(200);
      // Not by its owner, nor by a sibling key (both answered 200 before).
      for (const token of [m.token, sibling.secret]) {
        const res = await post(token, "enable");
        expect(res.status).toBe(403);
        expect(res.body.detail).toContain("iam:apikeys:manage");
      }
      expect((await post(owner, "enable")).body.status).toBe("active");
      // A key its owner disabled, its owner enables.
      expect((await post(m.token, "disable")).status).toBe(200);
      expect((await post(m.token, "enable")).body.status).toBe("active");
    });

    it("an administrator's disable holds when the owner had disabled the key first", async () => {
      const m = await h.newMember(org, owner, [{ roleId: "role_member" }], "first");
      const k = await mkKey(h, m.token, org, { name: "k", permissions: ["compute:read"] });
      const post = (token: string, what: "disable" | "enable") =>
        h.req("POST", `/v1/api-keys/${k.id}/${what}`, { token, body: {} });
      expect((await post(m.token, "disable")).status).toBe(200);
      const admin = await post(owner, "disable");
      expect(admin.status).toBe(200);
      expect((await post(m.token, "enable")).status).toBe(403);
      const events = (await auditRows(h, org)).filter((r) => r.action === "api_key.disable" && r.target_id === k.id);
      // The administrator's disable is a change, written to the log next to the owner's.
      expect(events).toHaveLength(2);
      expect(new Set(events.map((r) => r.actor_id)).size).toBe(2);
    });

    it("an administrator's disable of a project or service-account key holds against the project's side", async () => {
      const p = await mkProject(h, owner, org, "governed");
      // A project lead: may act for the project's keys, holds no iam:apikeys:manage.
      const lead = await mkRole(
        h,
        owner,
        org,
        ["iam:projects:update", "iam:projects:read", "iam:apikeys:create", "compute:read"],
        "lead",
      );
      const m = await h.newMember(org, owner, [{ roleId: lead, projectId: p }], "lead");
      const k = await mkKey(h, m.token, org, {
        name: "pk",
        owner: { type: "project", id: p },
        permissions: ["compute:read"],
      });
      const sibling = await mkKey(h, m.token, org, {
        name: "pk2",
        owner: { type: "project", id: p },
        permissions: ["iam:apikeys:create", "compute:read"],
      });
      expect((await h.req("POST", `/v1/api-keys/${k.id}/disable`, { token: owner, body: {} })).status).toBe(200);
      for (const token of [m.token, sibling.secret]) {
        const res = await h.req("POST", `/v1/api-keys/${k.id}/enable`, { token, body: {} });
        expect(res.status).toBe(403);
      }
      expect((await h.req("POST", `/v1/api-keys/${k.id}/enable`, { token: owner, body: {} })).body.status).toBe(
        "active",
      );
    });

    it("stay invisible (404) to members without iam:apikeys:manage", async () => {
      const a = await h.newMember(org, owner, [{ roleId: "role_member" }], "a");
      const b = await h.newMember(org, owner, [{ roleId: "role_member" }], "b");
      const ka = await mkKey(h, a.token, org, { name: "a" });
      for (const [m, u] of [
        ["GET", ""],
        ["PATCH", ""],
        ["DELETE", ""],
        ["POST", "/regenerate"],
        ["POST", "/disable"],
        ["POST", "/enable"],
      ]) {
        const res = await h.req(m, `/v1/api-keys/${ka.id}${u}`, {
          token: b.token,
          body: m === "PATCH" ? { name: "z" } : m === "POST" ? {} : undefined,
        });
        expect(res.status, `${m} ${u}`).toBe(404);
      }
      const list = await h.req("GET", `/v1/orgs/${org}/api-keys`, { token: b.token });
      expect(list.body.items).toHaveLength(0);
      // The five attempted changes are in the audit log as denied; the read is not.
      const denied = (await auditRows(h, org)).filter((r) => r.actor_id === b.userId && r.result === "denied");
      expect(denied.map((r) => r.action).sort()).toEqual([
        "api_key.delete",
        "api_key.disable",
        "api_key.enable",
        "api_key.regenerate",
        "api_key.update",
      ]);
      for (const view of ["users", "all", "service-accounts", "projects", a.userId]) {
        expect((await h.req("GET", `/v1/orgs/${org}/api-keys?view=${view}`, { token: b.token })).status, view).toBe(
          403,
        );
      }
    });

    it("admins view, disable and delete anyone's keys but do not edit them", async () => {
      const admin = await h.newMember(org, owner, [{ roleId: "role_admin" }], "admin");
      const m = await h.newMember(org, owner, [{ roleId: "role_member" }]);
      const sa = await mkServiceAccount(h, owner, org, [{ roleId: "role_viewer" }]);
      const p = await mkProject(h, owner, org);
      const km = await mkKey(h, m.token, org, { name: "m" });
      const ks = await mkKey(h, owner, org, { name: "s", owner: { type: "service_account", id: sa } });
      const kp = await mkKey(h, owner, org, {
        name: "p",
        owner: { type: "project", id: p },
        permissions: ["compute:read"],
      });
      const ids = async (view: string) =>
        (await h.req("GET", `/v1/orgs/${org}/api-keys?view=${view}`, { token: admin.token })).body.items
          .map((k: { id: string }) => k.id)
          .sort();
      expect(await ids("users")).toEqual([km.id]);
      expect(await ids("service-accounts")).toEqual([ks.id]);
      expect(await ids("projects")).toEqual([kp.id]);
      expect(await ids("all")).toEqual([km.id, ks.id, kp.id].sort());
      expect(await ids(m.userId)).toEqual([km.id]);
      expect(await ids(sa)).toEqual([ks.id]);
      expect(await ids("mine")).toEqual([]);
      expect((await h.req("GET", `/v1/api-keys/${km.id}`, { token: admin.token })).status).toBe(200);
      expect((await h.req("PATCH", `/v1/api-keys/${km.id}`, { token: admin.token, body: { name: "z" } })).status).toBe(
        403,
      );
      expect((await h.req("POST", `/v1/api-keys/${km.id}/disable`, { token: admin.token })).status).toBe(200);
      expect((await h.req("DELETE", `/v1/api-keys/${km.id}`, { token: admin.token })).status).toBe(204);
    });

    it("with inviterManagesKeys, inviters see and delete keys down their invitation tree", async () => {
      const inviter = await mkRole(h, owner, org, [
        "iam:invitations:create",
        "iam:apikeys:create",
        "compute:read",
        "iam:orgs:read",
      ]);
      const a = await h.newMember(org, owner, [{ roleId: inviter }], "a");
      const b = await h.newMember(org, a.token, [{ roleId: inviter }], "b");
      const c = await h.newMember(org, b.token, [{ roleId: inviter }], "c");
      const kc = await mkKey(h, c.token, org, { name: "c" });
      const ka = await mkKey(h, a.token, org, { name: "a" });
      expect((await h.req("GET", `/v1/api-keys/${kc.id}`, { token: a.token })).status).toBe(404);
      expect((await h.req("GET", `/v1/orgs/${org}/api-keys?view=users`, { token: a.token })).status).toBe(403);
      await h.req("PATCH", `/v1/orgs/${org}`, { token: owner, body: { settings: { inviterManagesKeys: true } } });
      expect((await h.req("GET", `/v1/api-keys/${kc.id}`, { token: a.token })).status).toBe(200);
      const users = await h.req("GET", `/v1/orgs/${org}/api-keys?view=users`, { token: a.token });
      expect(users.body.items.map((k: { id: string }) => k.id).sort()).toEqual([ka.id, kc.id].sort());
      expect((await h.req("GET", `/v1/orgs/${org}/api-keys?view=${c.userId}`, { token: a.token })).status).toBe(200);
      expect((await h.req("GET", `/v1/api-keys/${ka.id}`, { token: b.token })).status).toBe(404);
      expect((await h.req("GET", `/v1/api-keys/${ka.id}`, { token: c.token })).status).toBe(404);
      expect((await h.req("PATCH", `/v1/api-keys/${kc.id}`, { token: a.token, body: { name: "x" } })).status).toBe(403);
      expect((await h.req("POST", `/v1/api-keys/${kc.id}/disable`, { token: a.token })).status).toBe(403);
      expect((await h.req("DELETE", `/v1/api-keys/${kc.id}`, { token: a.token })).status).toBe(204);
    });
  });
});
