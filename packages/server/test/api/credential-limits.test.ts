import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey, mkProject, mkRole, mkServiceAccount, setOrgSettings } from "./key-helpers.js";

const GRANT = "urn:keyward:params:oauth:grant-type:apikey";

/**
 * A key (or a token exchanged from one) acting on Keyward's own API holds what its owner holds
 * within the key's limits, and no more: it hands out nothing beyond its own list, loosens no
 * restriction, and reaches others' keys only where it could act org-wide. A signed-in session
 * of the same user still may (the controls). Each refusal below was granted before its fix.
 */
describeEachDialect("credential limits on Keyward's own API", (dialect) => {
  let h: Harness;
  let owner: string;
  let org: string;
  let p: string;
  let q: string;
  beforeAll(async () => {
    h = await Harness.init(dialect);
    const o = await h.newOrgWithOwner("limits");
    owner = o.token;
    org = o.orgId;
    p = await mkProject(h, owner, org, "p");
    q = await mkProject(h, owner, org, "q");
  });
  afterAll(async () => h.close());

  const patchKey = (keyId: string, token: string, body: unknown, ip?: string) =>
    h.req("PATCH", `/v1/api-keys/${keyId}`, { token, body, ip });
  const refused = (res: { status: number; body: { code: string } }) => {
    expect(res.status).toBe(403);
    expect(res.body.code).toBe("FORBIDDEN");
  };

  describe("a credential kept to projects cannot lift its key's projects", () => {
    it("neither its own key's, nor a sibling's, nor move them to another project", async () => {
      const k = await mkKey(h, owner, org, { name: "kept", allowedProjects: [p] });
      const sibling = await mkKey(h, owner, org, { name: "kept-sibling", allowedProjects: [p] });
      refused(await patchKey(k.id, k.secret, { allowedProjects: null }));
      refused(await patchKey(k.id, k.secret, { allowedProjects: [q] }));
      refused(await patchKey(sibling.id, k.secret, { allowedProjects: null }));
      // Still kept: org-wide acts stay refused.
      refused(await h.req("GET", `/v1/orgs/${org}/members`, { token: k.secret }));
      // Its owner, signed in, may.
      expect((await patchKey(k.id, owner, { allowedProjects: null })).status).toBe(200);
    });

    it("nor can a token exchanged for one of them", async () => {
      const k = await mkKey(h, owner, org, { name: "kept-tok", allowedProjects: [p, q] });
      const t = await h.req("POST", "/v1/token", { body: { grant_type: GRANT, apikey: k.secret, projectId: p } });
      expect(t.status).toBe(200);
      refused(await patchKey(k.id, t.body.access_token, { allowedProjects: null }));
    });
  });

  describe("a key hands out only what it holds itself", () => {
    it("cannot widen a role its own permissions come from, or create a role with more", async () => {
      const role = await mkRole(h, owner, org, ["iam:roles:update", "iam:roles:read", "compute:read"]);
      const k = await mkKey(h, owner, org, { name: "role-key", roles: [role] });
      refused(await h.req("PATCH", `/v1/roles/${role}`, { token: k.secret, body: { permissions: ["*"] } }));
      refused(await h.req("GET", `/v1/orgs/${org}/members`, { token: k.secret }));
      const creator = await mkKey(h, owner, org, { name: "role-create", permissions: ["iam:roles:create"] });
      const body = { name: "everything", permissions: ["*"] };
      refused(await h.req("POST", `/v1/orgs/${org}/roles`, { token: creator.secret, body }));
      // Within its list it still may.
      const narrow = { name: "narrow", permissions: ["iam:roles:create"] };
      expect((await h.req("POST", `/v1/orgs/${org}/roles`, { token: creator.secret, body: narrow })).status).toBe(201);
    });

    it("cannot bind a role beyond its list to a member, an invitee or a service account", async () => {
      const owners = { roles: [{ roleId: "role_owner" }] };
      const m = await h.newMember(org, owner, [{ roleId: "role_viewer" }], "victim");
      const members = await mkKey(h, owner, org, {
        name: "members",
        permissions: ["iam:members:manage", "iam:members:read"],
      });
      refused(await h.req("PATCH", `/v1/orgs/${org}/members/${m.userId}`, { token: members.secret, body: owners }));
      const inviter = await mkKey(h, owner, org, { name: "inviter", permissions: ["iam:invitations:create"] });
      const invite = { email: "new-owner@example.com", ...owners };
      refused(await h.req("POST", `/v1/orgs/${org}/invitations`, { token: inviter.secret, body: invite }));
      const sa = await mkServiceAccount(h, owner, org, []);
      const binder = await mkKey(h, owner, org, {
        name: "sa-binder",
        permissions: ["iam:serviceaccounts:update", "iam:serviceaccounts:read", "iam:bindings:manage"],
      });
      refused(await h.req("PATCH", `/v1/service-accounts/${sa}`, { token: binder.secret, body: owners }));
      // The owner's session may; the member stayed a viewer.
      const member = await h.req("GET", `/v1/orgs/${org}/members/${m.userId}`, { token: owner });
      expect(member.body.roles).toEqual([{ roleId: "role_viewer", projectId: null }]);
      expect((await h.req("PATCH", `/v1/service-accounts/${sa}`, { token: owner, body: owners })).status).toBe(200);
    });
  });

  describe("a key or token may tighten a key's restrictions, never loosen them", () => {
    const soon = () => new Date(Date.now() + 3_600_000).toISOString();
    const later = () => new Date(Date.now() + 7_200_000).toISOString();

    it("a key cannot lift its own IP allow list or expiry (from inside the allowed network)", async () => {
      const k = await mkKey(h, owner, org, { name: "ip", allowedIps: ["203.0.113.0/24"], expiresAt: soon() });
      const inside = "203.0.113.7";
      for (const body of [
        { allowedIps: [] },
        { allowedIps: ["203.0.113.0/23"] },
        { expiresAt: null },
        { expiresAt: later() },
      ]) {
        const res = await patchKey(k.id, k.secret, body, inside);
        refused(res);
        expect(res.body.errors[0].path).toBe(Object.keys(body)[0]);
      }
      // Tightening is fine: a smaller network, an earlier expiry.
      const tighter = await patchKey(k.id, k.secret, { allowedIps: ["203.0.113.0/25"] }, inside);
      expect(tighter.status).toBe(200);
      expect(tighter.body.allowedIps).toEqual(["203.0.113.0/25"]);
      const earlier = new Date(Date.now() + 1_800_000).toISOString();
      expect((await patchKey(k.id, k.secret, { expiresAt: earlier }, inside)).status).toBe(200);
      // Still kept to its network.
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret, ip: "198.51.100.1" })).status).toBe(401);
      // Its owner, signed in, may loosen.
      expect((await patchKey(k.id, owner, { allowedIps: [], expiresAt: null })).status).toBe(200);
    });

    it("a key cannot loosen a sibling's IPs, expiry or rate limit", async () => {
      const k = await mkKey(h, owner, org, { name: "plain" });
      const sibling = await mkKey(h, owner, org, {
        name: "limited",
        allowedIps: ["203.0.113.0/24"],
        expiresAt: soon(),
        ratelimit: { limit: 10, windowSeconds: 60 },
      });
      const res = await patchKey(sibling.id, k.secret, { allowedIps: [], expiresAt: null, ratelimit: null });
      refused(res);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["allowedIps", "expiresAt", "ratelimit"]);
      for (const ratelimit of [
        { limit: 11, windowSeconds: 60 },
        { limit: 10, windowSeconds: 30 },
      ])
        refused(await patchKey(sibling.id, k.secret, { ratelimit }));
      const ratelimit = { limit: 5, windowSeconds: 60 };
      expect((await patchKey(sibling.id, k.secret, { ratelimit })).body.ratelimit).toEqual(ratelimit);
    });

    it("a key may tighten the org's key policy, not loosen it", async () => {
      const o = await h.newOrgWithOwner("policy");
      // The owner's key (made before the policy, which would refuse it: no literal create role).
      const k = await mkKey(h, o.token, o.orgId, { name: "owner-key", expiresAt: soon() });
      const policy = {
        allowedIps: ["203.0.113.0/24"],
        requireExpiry: true,
        restrictKeyCreation: true,
        maxKeyLifetimeDays: 30,
        maxKeysPerUser: 5,
      };
      const set = await h.req("PATCH", `/v1/orgs/${o.orgId}`, { token: o.token, body: { settings: policy } });
      expect(set.status).toBe(200);
      const patch = (settings: Record<string, unknown>) =>
        h.req("PATCH", `/v1/orgs/${o.orgId}`, { token: k.secret, ip: "203.0.113.9", body: { settings } });
      for (const [settings, path] of [
        [{ allowedIps: [] }, "settings/allowedIps"],
        [{ allowedIps: ["203.0.0.0/16"] }, "settings/allowedIps"],
        [{ requireExpiry: false }, "settings/requireExpiry"],
        [{ restrictKeyCreation: false }, "settings/restrictKeyCreation"],
        [{ maxKeyLifetimeDays: null }, "settings/maxKeyLifetimeDays"],
        [{ maxKeyLifetimeDays: 31 }, "settings/maxKeyLifetimeDays"],
        [{ maxKeysPerUser: 6 }, "settings/maxKeysPerUser"],
        [{ inviterManagesKeys: true }, "settings/inviterManagesKeys"],
      ] as const) {
        const res = await patch(settings);
        refused(res);
        expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual([path]);
      }
      // Tightening is the key's to do; loosening its owner's, signed in.
      const tighter = await patch({ allowedIps: ["203.0.113.9"], maxKeyLifetimeDays: 7, maxKeysPerUser: 2 });
      expect(tighter.status).toBe(200);
      expect(
        (await h.req("PATCH", `/v1/orgs/${o.orgId}`, { token: o.token, body: { settings: { allowedIps: [] } } }))
          .status,
      ).toBe(200);
    });

    it("a limited key, or its token, creates no key less limited than itself", async () => {
      const ratelimit = { limit: 1, windowSeconds: 3600 };
      const allowedIps = ["203.0.113.0/24"];
      const expiresAt = soon();
      const k = await mkKey(h, owner, org, {
        name: "limited-creator",
        permissions: ["iam:apikeys:create", "compute:read"],
        ratelimit,
        allowedIps,
        expiresAt,
      });
      const tok = await h.req("POST", "/v1/token", {
        body: { grant_type: GRANT, apikey: k.secret },
        ip: "203.0.113.5",
      });
      expect(tok.status).toBe(200);
      const create = (token: string, body: Record<string, unknown>) =>
        h.req("POST", `/v1/orgs/${org}/api-keys`, {
          token,
          ip: "203.0.113.5",
          body: { name: "twin", permissions: ["compute:read"], ...body },
        });
      for (const token of [k.secret, tok.body.access_token]) {
        // A free twin (no limits at all) was created before.
        const free = await create(token, {});
        refused(free);
        expect(free.body.errors.map((e: { path: string }) => e.path)).toEqual(["allowedIps", "expiresAt", "ratelimit"]);
        refused(await create(token, { allowedIps, expiresAt, ratelimit: { limit: 2, windowSeconds: 3600 } }));
        refused(await create(token, { allowedIps: ["203.0.0.0/16"], expiresAt, ratelimit }));
        // As limited, or more: allowed.
        const twin = await create(token, { allowedIps: ["203.0.113.5"], expiresAt, ratelimit });
        expect(twin.status).toBe(201);
        expect(twin.body.apiKey.ratelimit).toEqual(ratelimit);
      }
      // Its owner, signed in, may create a key without them.
      expect((await create(owner, {})).status).toBe(201);
    });

    it("a limited key, or its token, takes no new secret of a sibling less limited than itself", async () => {
      const ratelimit = { limit: 1, windowSeconds: 3600 };
      const expiresAt = soon();
      const k = await mkKey(h, owner, org, {
        name: "limited-rotator",
        permissions: ["iam:apikeys:create", "compute:read"],
        ratelimit,
        allowedIps: ["203.0.113.0/24"],
        expiresAt,
      });
      const tok = await h.req("POST", "/v1/token", {
        body: { grant_type: GRANT, apikey: k.secret },
        ip: "203.0.113.5",
      });
      expect(tok.status).toBe(200);
      const free = await mkKey(h, owner, org, { name: "free sibling", permissions: ["compute:read"] });
      const regenerate = (token: string, keyId: string) =>
        h.req("POST", `/v1/api-keys/${keyId}/regenerate`, { token, ip: "203.0.113.5", body: {} });
      for (const token of [k.secret, tok.body.access_token]) {
        const res = await regenerate(token, free.id);
        refused(res);
        expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(["allowedIps", "expiresAt", "ratelimit"]);
      }
      // The free sibling's secret still works: nothing was regenerated.
      expect((await h.req("GET", "/v1/me", { token: free.secret })).status).toBe(200);
      // A sibling as limited, or more, and the key itself, it may regenerate.
      const tight = await mkKey(h, owner, org, {
        name: "tight sibling",
        permissions: ["compute:read"],
        ratelimit,
        allowedIps: ["203.0.113.5"],
        expiresAt,
      });
      expect((await regenerate(k.secret, tight.id)).status).toBe(200);
      expect((await regenerate(k.secret, k.id)).status).toBe(200);
      // Its owner, signed in, may regenerate the free one.
      expect((await regenerate(owner, free.id)).status).toBe(200);
    });
  });

  describe("inviterManagesKeys reaches others' keys only through a credential that could act org-wide", () => {
    let a: { token: string; userId: string };
    let b: { token: string; userId: string };
    let orgB: string;
    beforeAll(async () => {
      const o = await h.newOrgWithOwner("inviter");
      orgB = o.orgId;
      const inviter = await mkRole(h, o.token, orgB, ["iam:invitations:create", "iam:apikeys:create", "compute:read"]);
      a = await h.newMember(orgB, o.token, [{ roleId: inviter }], "a");
      b = await h.newMember(orgB, a.token, [{ roleId: inviter }], "b");
      await setOrgSettings(h, o.token, orgB, { inviterManagesKeys: true });
    });

    it("a read-only key and a key without key rights do not delete the invitee's key", async () => {
      const kb = await mkKey(h, b.token, orgB, { name: "b" });
      const credentials = [
        await mkKey(h, a.token, orgB, { name: "a-ro", readOnly: true }),
        await mkKey(h, a.token, orgB, { name: "a-narrow", permissions: ["compute:read"] }),
      ];
      const statuses = [];
      for (const ka of credentials)
        statuses.push((await h.req("DELETE", `/v1/api-keys/${kb.id}`, { token: ka.secret })).status);
      // The read-only key sees the invitee's key but may not delete it; the other does not reach it.
      expect(statuses).toEqual([403, 404]);
      // A signed-in inviter still may.
      expect((await h.req("DELETE", `/v1/api-keys/${kb.id}`, { token: a.token })).status).toBe(204);
    });
  });

  it("a key kept to a project does not see or delete an invitee's org-wide key", async () => {
    const o = await h.newOrgWithOwner("inviter2");
    const pk = await mkProject(h, o.token, o.orgId, "pk");
    const inviter = await mkRole(h, o.token, o.orgId, ["iam:invitations:create", "iam:apikeys:create", "compute:read"]);
    const a = await h.newMember(o.orgId, o.token, [{ roleId: inviter }], "a2");
    const b = await h.newMember(o.orgId, a.token, [{ roleId: inviter }], "b2");
    await setOrgSettings(h, o.token, o.orgId, { inviterManagesKeys: true });
    const kb = await mkKey(h, b.token, o.orgId, { name: "b" });
    const ka = await mkKey(h, a.token, o.orgId, { name: "a-kept", allowedProjects: [pk] });
    refused(await h.req("GET", `/v1/orgs/${o.orgId}/api-keys?view=users`, { token: ka.secret }));
    expect((await h.req("GET", `/v1/api-keys/${kb.id}`, { token: ka.secret })).status).toBe(404);
    expect((await h.req("DELETE", `/v1/api-keys/${kb.id}`, { token: ka.secret })).status).toBe(404);
    expect((await h.req("GET", `/v1/api-keys/${kb.id}`, { token: a.token })).status).toBe(200);
  });
});
