import { afterEach, beforeEach, expect, it } from "vitest";
import * as migration0008 from "../../src/store/migrations/0008-disable-leavers-keys.js";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey, mkRole, mkServiceAccount } from "./key-helpers.js";
import { verifierKey, verify } from "./verify-helpers.js";

// Changes that alter how a cached key (or a cached "may this caller verify") resolves must
// show in the very next /v1/verify answer on this node, with nothing cleared by hand.
describeEachDialect("verify: invalidation on role delete and invitation accept", (dialect) => {
  let h: Harness;
  let verifier: string;
  let owner: string;
  let org: { token: string; orgId: string; userId: string };

  beforeEach(async () => {
    h = await Harness.init(dialect);
    verifier = await verifierKey(h);
    owner = await h.login();
    org = await h.newOrgWithOwner("customer");
  });
  afterEach(async () => h?.close());

  const invite = (token: string, orgId: string, email: string, roles: { roleId: string }[]) =>
    h.req("POST", `/v1/orgs/${orgId}/invitations`, { token, body: { email, roles } });

  it("stops granting a deleted custom role's permissions to keys naming it", async () => {
    const role = await mkRole(h, org.token, org.orgId, ["compute:write"]);
    const k = await mkKey(h, org.token, org.orgId, { name: "by-role", roles: [role] });
    const before = await verify(h, verifier, { key: k.secret, permissions: ["compute:write"] });
    expect(before.body.valid).toBe(true);
    expect((await h.req("DELETE", `/v1/roles/${role}`, { token: org.token })).status).toBe(204);
    const after = await verify(h, verifier, { key: k.secret, permissions: ["compute:write"] });
    expect(after.body).toMatchObject({ valid: false, code: "INSUFFICIENT_PERMISSIONS" });
  });

  it("does not revive a removed member's key when they accept a new invitation: an administrator enables it", async () => {
    const role = await mkRole(h, org.token, org.orgId, ["compute:read", "iam:apikeys:create"]);
    const m = await h.newMember(org.orgId, org.token, [{ roleId: role }]);
    const k = await mkKey(h, m.token, org.orgId, { name: "mine" });
    expect((await verify(h, verifier, { key: k.secret })).body.valid).toBe(true);
    expect((await h.req("DELETE", `/v1/orgs/${org.orgId}/members/${m.userId}`, { token: org.token })).status).toBe(204);
    expect((await verify(h, verifier, { key: k.secret })).body.code).toBe("OWNER_INACTIVE");
    const inv = await invite(org.token, org.orgId, m.email, [{ roleId: role }]);
    expect(inv.status).toBe(201);
    const session = await h.login(m.email, "password-of-someone");
    const acc = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, { token: session });
    expect(acc.status).toBe(200);
    // Back in the org, the key is what the removal made it: disabled by an administrator.
    expect((await verify(h, verifier, { key: k.secret })).body).toEqual({ valid: false, code: "DISABLED" });
    expect((await h.req("POST", `/v1/api-keys/${k.id}/enable`, { token: session, body: {} })).status).toBe(403);
    expect((await h.req("POST", `/v1/api-keys/${k.id}/enable`, { token: org.token, body: {} })).status).toBe(200);
    const after = await verify(h, verifier, { key: k.secret, permissions: ["compute:read"] });
    expect(after.body).toMatchObject({ valid: true, keyId: k.id });
    const events = await h.kw.db.kysely
      .selectFrom("audit_events")
      .select(["action", "details"])
      .where("target_id", "=", k.id)
      .where("action", "=", "api_key.disable")
      .execute();
    expect(events).toHaveLength(1);
    expect(events[0].details).toContain("left the organization");
  });

  it("migration 0008 disables the keys of members removed before removals disabled them", async () => {
    const gone = await h.newMember(org.orgId, org.token, [{ roleId: "role_member" }], "gone");
    const stays = await h.newMember(org.orgId, org.token, [{ roleId: "role_member" }], "stays");
    const goneKey = await mkKey(h, gone.token, org.orgId, { name: "gone" });
    const staysKey = await mkKey(h, stays.token, org.orgId, { name: "stays" });
    const sa = await mkServiceAccount(h, org.token, org.orgId);
    const saKey = await mkKey(h, org.token, org.orgId, { name: "robot", owner: { type: "service_account", id: sa } });
    // A removal as it was made before: membership and bindings gone, the keys left as they were.
    const db = h.kw.db.kysely;
    await db.deleteFrom("bindings").where("principal_id", "=", gone.userId).execute();
    await db.deleteFrom("org_members").where("user_id", "=", gone.userId).where("org_id", "=", org.orgId).execute();
    await migration0008.up(db as never);
    const rows = await db
      .selectFrom("api_keys")
      .select(["id", "status", "disabled_by_manager"])
      .where("id", "in", [goneKey.id, staysKey.id, saKey.id])
      .execute();
    const byId = Object.fromEntries(rows.map((r) => [r.id, [r.status, Number(r.disabled_by_manager)]]));
    expect(byId).toEqual({
      [goneKey.id]: ["disabled", 1],
      [staysKey.id]: ["active", 0],
      [saKey.id]: ["active", 0],
    });
  });

  it("lets a user verify as soon as they join the operator org with the permission", async () => {
    const m = await h.newMember(org.orgId, org.token, [{ roleId: "role_viewer" }], "platform");
    const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
    // Not in the operator org: refused, and that answer is cached for this session.
    expect((await verify(h, m.token, { key: k.secret })).status).toBe(403);
    const role = await mkRole(h, owner, h.operatorOrgId, ["iam:apikeys:verify"], "verify-only");
    const inv = await invite(owner, h.operatorOrgId, m.email, [{ roleId: role }]);
    expect(inv.status).toBe(201);
    const acc = await h.req("POST", `/v1/invitations/${inv.body.token}/accept`, { token: m.token });
    expect(acc.status).toBe(200);
    const after = await verify(h, m.token, { key: k.secret });
    expect(after.status).toBe(200);
    expect(after.body.valid).toBe(true);
  });
});
