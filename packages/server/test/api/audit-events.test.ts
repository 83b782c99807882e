import { afterEach, beforeEach, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey } from "./key-helpers.js";

/** @see issue 3: GET /v1/orgs/{orgId}/audit-events */
describeEachDialect("audit events", (dialect) => {
  let h: Harness;
  let owner: string;
  let org: string;
  beforeEach(async () => {
    h = await Harness.init(dialect);
    owner = await h.login();
    org = h.operatorOrgId;
  });
  afterEach(async () => h.close());

  const list = (q: string, token = owner) => h.req("GET", `/v1/orgs/${org}/audit-events${q}`, { token });

  it("filters by action, prefix, actor, target, result and time", async () => {
    const a = await mkKey(h, owner, org, { name: "a", permissions: ["iam:apikeys:create", "compute:read"] });
    const b = await mkKey(h, a.secret, org, { name: "b", permissions: ["compute:read"] });
    await h.req("POST", `/v1/orgs/${org}/api-keys`, {
      token: a.secret,
      body: { name: "c", permissions: ["storage:write"] },
    });
    await h.req("PATCH", `/v1/api-keys/${b.id}`, { token: owner, body: { name: "b2" } });

    const creates = await list("?action=api_key.create");
    expect(creates.status).toBe(200);
    expect(creates.body.items).toHaveLength(3);
    expect((await list("?action=api_key.*")).body.items).toHaveLength(4);
    const byKey = await list(`?actor=${a.id}`);
    expect(byKey.body.items.map((e: { result: string }) => e.result).sort()).toEqual(["denied", "success"]);
    expect(byKey.body.items[0].actor.credential).toBe(a.id);
    const target = await list(`?target=${b.id}`);
    expect(target.body.items.map((e: { action: string }) => e.action)).toEqual(["api_key.update", "api_key.create"]);
    expect(target.body.items[0]).toMatchObject({
      target: { type: "api_key", id: b.id },
      details: { before: { name: "b" }, after: { name: "b2" } },
    });
    expect((await list("?result=denied")).body.items).toHaveLength(1);
    expect((await list(`?from=${encodeURIComponent("2999-01-01T00:00:00Z")}`)).body.items).toHaveLength(0);
    expect((await list(`?to=${Math.floor(Date.now() / 1000) + 60}&action=api_key.create`)).body.items).toHaveLength(3);
    const bad = await list("?from=yesterday");
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe("from");
    // Past year 9999 an instant has no RFC 3339 form to compare with: it answered every event.
    for (const [q, path] of [
      ["?from=999999999999", "from"],
      [`?from=${encodeURIComponent("+010000-01-01T00:00:00Z")}`, "from"],
      [`?to=${encodeURIComponent("+010000-01-01T00:00:00Z")}`, "to"],
    ]) {
      const res = await list(q);
      expect(res.status, q).toBe(400);
      expect(res.body.errors[0]).toMatchObject({ path, code: "range" });
    }
  });

  it("pages with a cursor, newest first", async () => {
    for (let i = 0; i < 5; i++) await mkKey(h, owner, org, { name: `k${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `?action=api_key.create&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await list(q);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((e: { id: string }) => e.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(5);
  });

  it("needs iam:audit:read and hides other orgs (404)", async () => {
    const m = await h.newMember(org, owner, [{ roleId: "role_member" }]);
    expect((await list("", m.token)).status).toBe(403);
    const other = await h.newOrgWithOwner("other");
    expect((await h.req("GET", `/v1/orgs/${other.orgId}/audit-events`, { token: owner })).status).toBe(404);
    expect((await h.req("GET", `/v1/orgs/${other.orgId}/audit-events`, { token: other.token })).status).toBe(200);
    const ro = await mkKey(h, owner, org, { name: "auditor", permissions: ["iam:audit:read"] });
    expect((await list("", ro.secret)).status).toBe(200);
  });
});
