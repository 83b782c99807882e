import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";

describeEachDialect("api keys", (dialect) => {
  let h: Harness;
  let owner: string;
  let org: string;
  beforeEach(async () => {
    h = await Harness.init(dialect);
    owner = await h.login();
    org = h.operatorOrgId;
  });
  afterEach(async () => h.close());

  const create = (token: string, body: Record<string, unknown>, orgId = org) =>
    h.req("POST", `/v1/orgs/${orgId}/api-keys`, { token, body });

  describe("happy", () => {
    it("creates a key, shows the secret once and authenticates with it", async () => {
      const res = await create(owner, { name: "ci", permissions: ["compute:read", "iam:orgs:read"] });
      expect(res.status).toBe(201);
      expect(res.body.secret).toMatch(/^kw_[0-9A-Za-z]{38}$/);
      expect(res.body.apiKey).toMatchObject({ name: "ci", owner: { type: "user" }, permissions: ["compute:read", "iam:orgs:read"], status: "active", version: 1 });
      expect(res.body.apiKey.start).toBe(res.body.secret.slice(0, 8));
      expect(res.headers.etag).toBe('"v1"');
      const got = await h.req("GET", `/v1/api-keys/${res.body.apiKey.id}`, { token: owner });
      expect(got.status).toBe(200);
      expect(JSON.stringify(got.body)).not.toContain(res.body.secret);
      const viaKey = await h.req("GET", `/v1/orgs/${org}`, { token: res.body.secret });
      expect(viaKey.status).toBe(200);
      const denied = await h.req("GET", `/v1/orgs/${org}/members`, { token: res.body.secret });
      expect(denied.status).toBe(403);
    });
  });
});
