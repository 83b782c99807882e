import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { auditRows, mkKey, mkProject, mkRole, mkServiceAccount, setOrgSettings } from "./key-helpers.js";

const DAY = 86_400;
const inDays = (d: number) => new Date(Date.now() + d * DAY * 1000).toISOString();

/** @see issue 3: org key policy (DESIGN §4) and key restrictions */
describeEachDialect("api key policy", (dialect) => {
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

  describe("restrictKeyCreation", () => {
    it("blocks the owner too, unless a bound role lists iam:apikeys:create explicitly", async () => {
      const member = await h.newMember(org, owner, [{ roleId: "role_member" }]);
      const wild = await mkRole(h, owner, org, ["iam:apikeys:*", "compute:read"]);
      const w = await h.newMember(org, owner, [{ roleId: wild }], "wild");
      await setOrgSettings(h, owner, org, { restrictKeyCreation: true });
      const res = await create(owner, { name: "x" });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe("POLICY_VIOLATION");
      expect(res.body.errors[0].code).toBe("restrictKeyCreation");
      expect((await create(w.token, { name: "x" })).status).toBe(422);
      expect((await create(member.token, { name: "x" })).status).toBe(201);
      const allowed = await h.req("GET", `/v1/orgs/${org}/api-keys/allowed-permissions`, { token: owner });
      expect(allowed.body.canCreate).toBe(false);
      const denied = (await auditRows(h, org)).filter((r) => r.action === "api_key.create" && r.result === "denied");
      expect(denied).toHaveLength(2);
    });

    it("counts a literal grant only where it is bound: one project's opens no org-wide key", async () => {
      const p = await mkProject(h, owner, org, "p");
      const q = await mkProject(h, owner, org, "q");
      const literal = await mkRole(h, owner, org, ["iam:apikeys:create"]);
      const broad = await mkRole(h, owner, org, ["iam:*", "compute:*"]);
      const m = await h.newMember(org, owner, [{ roleId: broad }, { roleId: literal, projectId: p }], "scoped");
      await setOrgSettings(h, owner, org, { restrictKeyCreation: true });
      const orgWide = await create(m.token, { name: "org-wide" });
      expect(orgWide.status).toBe(422);
      expect(orgWide.body.errors[0].code).toBe("restrictKeyCreation");
      expect((await create(m.token, { name: "p and q", allowedProjects: [p, q] })).status).toBe(422);
      expect((await create(m.token, { name: "in p", allowedProjects: [p] })).status).toBe(201);
      const allowed = (projectId?: string) =>
        h.req("GET", `/v1/orgs/${org}/api-keys/allowed-permissions${projectId ? `?projectId=${projectId}` : ""}`, {
          token: m.token,
        });
      expect((await allowed()).body.canCreate).toBe(false);
      expect((await allowed(p)).body.canCreate).toBe(true);
    });
  });

  describe("expiry", () => {
    it("requireExpiry needs an expiry on create and keeps it on edit", async () => {
      await setOrgSettings(h, owner, org, { requireExpiry: true });
      const res = await create(owner, { name: "x" });
      expect(res.status).toBe(422);
      expect(res.body.errors[0]).toMatchObject({ path: "expiresAt", code: "requireExpiry" });
      const k = await mkKey(h, owner, org, { name: "x", expiresAt: inDays(10) });
      const clear = await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: owner, body: { expiresAt: null } });
      expect(clear.status).toBe(422);
      expect(
        (await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: owner, body: { expiresAt: inDays(20) } })).status,
      ).toBe(200);
    });

    it("maxKeyLifetimeDays bounds the expiry", async () => {
      await setOrgSettings(h, owner, org, { maxKeyLifetimeDays: 30 });
      expect((await create(owner, { name: "x" })).status).toBe(422);
      const far = await create(owner, { name: "x", expiresAt: inDays(40) });
      expect(far.status).toBe(422);
      expect(far.body.errors[0]).toMatchObject({ path: "expiresAt", code: "maxKeyLifetimeDays" });
      expect((await create(owner, { name: "x", expiresAt: Math.floor(Date.now() / 1000) + 20 * DAY })).status).toBe(
        201,
      );
    });

    it("lets a key older than maxKeyLifetimeDays be given an expiry, or an earlier one, never a later one", async () => {
      const old = await mkKey(h, owner, org, { name: "old" });
      const dated = await mkKey(h, owner, org, { name: "dated", expiresAt: inDays(200) });
      // Both made 100 days ago, before the org bounded lifetimes to 30 days.
      await h.kw.db.kysely
        .updateTable("api_keys")
        .set({ created_at: new Date(Date.now() - 100 * DAY * 1000).toISOString() })
        .where("id", "in", [old.id, dated.id])
        .execute();
      await setOrgSettings(h, owner, org, { requireExpiry: true, maxKeyLifetimeDays: 30 });
      const patch = (id: string, expiresAt: string | null) =>
        h.req("PATCH", `/v1/api-keys/${id}`, { token: owner, body: { expiresAt } });
      // Tightening: always (every date was refused before, so the key kept no expiry at all).
      expect((await patch(old.id, inDays(5))).status).toBe(200);
      expect((await patch(dated.id, inDays(100))).status).toBe(200);
      // Loosening: past the bound, counted from creation.
      expect((await patch(dated.id, inDays(150))).body.errors[0].code).toBe("maxKeyLifetimeDays");
      expect((await patch(old.id, null)).body.errors[0].code).toBe("requireExpiry");
    });

    it("an expired key stops working", async () => {
      const k = await mkKey(h, owner, org, { name: "x", expiresAt: inDays(1), permissions: ["iam:orgs:read"] });
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret })).status).toBe(200);
      await h.kw.db.kysely
        .updateTable("api_keys")
        .set({ expires_at: "2001-01-01T00:00:00.000Z" })
        .where("id", "=", k.id)
        .execute();
      h.emitsByHand().kw.services.deps.keyEvents.emit({ kind: "key", keyId: k.id });
      const res = await h.req("GET", `/v1/orgs/${org}`, { token: k.secret });
      expect(res.status).toBe(401);
      expect(res.body.detail).toContain("EXPIRED");
    });
  });

  describe("maxKeysPerUser", () => {
    it("caps each user's keys; service-account keys do not count", async () => {
      await setOrgSettings(h, owner, org, { maxKeysPerUser: 1 });
      await mkKey(h, owner, org, { name: "one" });
      const two = await create(owner, { name: "two" });
      expect(two.status).toBe(422);
      expect(two.body.errors[0]).toMatchObject({ path: "owner", code: "maxKeysPerUser" });
      const sa = await mkServiceAccount(h, owner, org);
      await mkKey(h, owner, org, { name: "sa1", owner: { type: "service_account", id: sa } });
      expect((await create(owner, { name: "sa2", owner: { type: "service_account", id: sa } })).status).toBe(201);
    });

    it("holds under creates sent at once", async () => {
      await setOrgSettings(h, owner, org, { maxKeysPerUser: 2 });
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => create(owner, { name: `k${i}` })));
      expect(answers.filter((r) => r.status === 201)).toHaveLength(2);
      expect(answers.filter((r) => r.status === 422)).toHaveLength(18);
      const stored = await h.kw.db.kysely.selectFrom("api_keys").select("id").where("org_id", "=", org).execute();
      expect(stored).toHaveLength(2);
    });
  });

  describe("IP restrictions", () => {
    it("intersects the org's list with the key's; IPv4-mapped IPv6 meets IPv4 rules", async () => {
      const k = await mkKey(h, owner, org, {
        name: "ip",
        allowedIps: ["192.0.2.0/24", "2001:db8::/32"],
        permissions: ["iam:orgs:read"],
      });
      const get = (ip: string) => h.req("GET", `/v1/orgs/${org}`, { token: k.secret, ip });
      expect((await get("192.0.2.9")).status).toBe(200);
      expect((await get("::ffff:192.0.2.9")).status).toBe(200);
      expect((await get("2001:db8::5")).status).toBe(200);
      const out = await get("198.51.100.1");
      expect(out.status).toBe(401);
      expect(out.body.detail).toContain("IP_NOT_ALLOWED");
      await setOrgSettings(h, owner, org, { allowedIps: ["192.0.2.128/25"] });
      expect((await get("192.0.2.9")).status).toBe(401);
      expect((await get("192.0.2.200")).status).toBe(200);
      expect((await get("2001:db8::5")).status).toBe(401);
    });
  });

  describe("allowed-permissions", () => {
    it("lists exactly what the caller may grant, org-wide or in a project", async () => {
      const names = async (token: string, q = "") =>
        (await h.req("GET", `/v1/orgs/${org}/api-keys/allowed-permissions${q}`, { token })).body.items
          .map((p: { name: string }) => p.name)
          .sort();
      const member = await h.newMember(org, owner, [{ roleId: "role_member" }]);
      expect(await names(member.token)).toEqual(
        [
          "compute:read",
          "compute:write",
          "iam:apikeys:create",
          "iam:members:read",
          "iam:orgs:read",
          "iam:projects:read",
          "iam:roles:read",
          "iam:serviceaccounts:read",
          "storage:read",
        ].sort(),
      );
      expect(await names(owner)).toContain("iam:apikeys:verify");
      const other = await h.newOrgWithOwner("other");
      const theirs = await h.req("GET", `/v1/orgs/${other.orgId}/api-keys/allowed-permissions`, { token: other.token });
      expect(theirs.body.items.map((p: { name: string }) => p.name)).not.toContain("iam:apikeys:verify");
      const p = await mkProject(h, owner, org);
      const pm = await h.newMember(
        org,
        owner,
        [{ roleId: "role_viewer" }, { roleId: "role_member", projectId: p }],
        "pm",
      );
      const orgWide = await h.req("GET", `/v1/orgs/${org}/api-keys/allowed-permissions`, { token: pm.token });
      expect(orgWide.body.canCreate).toBe(false);
      const inP = await h.req("GET", `/v1/orgs/${org}/api-keys/allowed-permissions?projectId=${p}`, {
        token: pm.token,
      });
      expect(inP.body).toMatchObject({ projectId: p, canCreate: true });
      expect(inP.body.items.map((x: { name: string }) => x.name)).toContain("compute:write");
      const bad = await h.req("GET", `/v1/orgs/${org}/api-keys/allowed-permissions?projectId=prj_nothere`, {
        token: pm.token,
      });
      expect(bad.status).toBe(400);
      expect(bad.body.errors[0].path).toBe("projectId");
    });

    it("creating with exactly the allowed set succeeds, one more permission fails", async () => {
      const member = await h.newMember(org, owner, [{ roleId: "role_member" }]);
      const allowed = await h.req("GET", `/v1/orgs/${org}/api-keys/allowed-permissions`, { token: member.token });
      const all = allowed.body.items.map((p: { name: string }) => p.name);
      expect((await create(member.token, { name: "all", permissions: all })).status).toBe(201);
      const over = await create(member.token, { name: "over", permissions: [...all, "storage:write"] });
      expect(over.status).toBe(403);
      expect(over.body.errors[0]).toMatchObject({ path: "permissions", code: "escalation" });
      expect((await create(member.token, { name: "wild", permissions: ["compute:*"] })).status).toBe(403);
      expect((await create(member.token, { name: "roles", roles: ["role_admin"] })).status).toBe(403);
    });
  });
});
