import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { isWellFormedSecret } from "../../src/domain/keys/secret.js";
import { auditRows, effective, mkKey, mkProject, mkServiceAccount, resolved } from "./key-helpers.js";

/** @see issue 3: API keys, the full lifecycle */
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
      expect(res.body.apiKey).toMatchObject({
        name: "ci",
        owner: { type: "user" },
        permissions: ["compute:read", "iam:orgs:read"],
        status: "active",
        version: 1,
      });
      expect(res.body.apiKey.start).toBe(res.body.secret.slice(0, 8));
      expect(res.headers.etag).toBe('"v1"');
      const got = await h.req("GET", `/v1/api-keys/${res.body.apiKey.id}`, { token: owner });
      expect(got.status).toBe(200);
      expect(got.headers.etag).toBe('"v1"');
      expect(JSON.stringify(got.body)).not.toContain(res.body.secret);
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: res.body.secret })).status).toBe(200);
      expect((await h.req("GET", `/v1/orgs/${org}/members`, { token: res.body.secret })).status).toBe(403);
      const me = await h.req("GET", "/v1/me", { token: res.body.secret });
      expect(me.body.credential).toEqual({ type: "api_key", id: res.body.apiKey.id });
    });

    it("never stores, returns or audits the secret: only its HMAC", async () => {
      const k = await mkKey(h, owner, org, { name: "s" });
      const regen = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, {
        token: owner,
        body: { graceSeconds: 60 },
      });
      const secrets = [k.secret, regen.body.secret];
      const tables = ["api_keys", "audit_events", "key_regenerations", "sessions"] as const;
      for (const t of tables) {
        const dump = JSON.stringify(await h.kw.db.kysely.selectFrom(t).selectAll().execute());
        for (const s of secrets) expect(dump).not.toContain(s.slice(3));
      }
      const list = await h.req("GET", `/v1/orgs/${org}/api-keys`, { token: owner });
      for (const s of secrets) expect(JSON.stringify(list.body)).not.toContain(s);
    });

    it("rejects a token with a wrong checksum and unknown keys with 401", async () => {
      const k = await mkKey(h, owner, org, { name: "s" });
      const last = k.secret.at(-1) === "A" ? "B" : "A";
      const typo = k.secret.slice(0, -1) + last;
      const res = await h.req("GET", `/v1/orgs/${org}`, { token: typo });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("UNAUTHENTICATED");
      expect(isWellFormedSecret(typo, h.kw.services.deps.config.keyPrefix)).toBe(false);
    });

    it("creates without permissions: the caller's own key follows its owner's grants", async () => {
      const k = await mkKey(h, owner, org, { name: "all" });
      expect(k.key.inheritsOwnerPermissions).toBe(true);
      expect(await effective(h, k.secret)).toContain("iam:apikeys:verify");
    });

    it("accepts roles on a key and expands wildcards", async () => {
      const k = await mkKey(h, owner, org, { name: "viewer", roles: ["role_viewer"], permissions: ["storage:*"] });
      const eff = await effective(h, k.secret);
      expect(eff).toContain("compute:read");
      expect(eff).toContain("storage:delete");
      expect(eff).not.toContain("compute:write");
    });

    it("stores restrictions normalised and answers them back", async () => {
      const p = await mkProject(h, owner, org);
      const k = await mkKey(h, owner, org, {
        name: "r",
        description: "d",
        allowedIps: ["10.1.2.3/8", "2001:DB8:0:0::1", "::ffff:192.0.2.1"],
        allowedProjects: [p],
        defaultProjectId: p,
        readOnly: true,
        expiresAt: Math.floor(Date.now() / 1000) + 3600,
        ratelimit: { limit: 100, windowSeconds: 60 },
      });
      expect(k.key.allowedIps).toEqual(["10.0.0.0/8", "2001:db8::1", "192.0.2.1"]);
      expect(k.key).toMatchObject({
        allowedProjects: [p],
        defaultProjectId: p,
        readOnly: true,
        ratelimit: { limit: 100, windowSeconds: 60 },
      });
      expect(Date.parse(k.key.expiresAt)).toBeGreaterThan(Date.now());
    });

    it("a key holding iam:apikeys:create creates keys, never beyond itself", async () => {
      const parent = await mkKey(h, owner, org, {
        name: "parent",
        permissions: ["iam:apikeys:create", "compute:read"],
      });
      const child = await create(parent.secret, { name: "child", permissions: ["compute:read"] });
      expect(child.status).toBe(201);
      expect(child.body.apiKey.createdBy).toBe(parent.key.owner.id);
      const wider = await create(parent.secret, { name: "wider", permissions: ["compute:write"] });
      expect(wider.status).toBe(403);
      const implicit = await create(parent.secret, { name: "implicit" });
      expect(implicit.status).toBe(201);
      expect(implicit.body.apiKey.permissions.sort()).toEqual(["compute:read", "iam:apikeys:create"]);
      const ro = await mkKey(h, owner, org, { name: "ro", readOnly: true });
      expect((await create(ro.secret, { name: "x" })).status).toBe(403);
    });
  });

  it("documents every key endpoint in OpenAPI, with the shared ApiKey schema and examples", async () => {
    const doc = (await h.req("GET", "/openapi.json")).body;
    expect(doc.components.schemas.ApiKey.examples[0].id).toMatch(/^key_/);
    expect(doc.components.schemas.AuditEvent).toBeDefined();
    const paths = Object.keys(doc.paths);
    for (const p of [
      "/v1/orgs/{orgId}/api-keys",
      "/v1/orgs/{orgId}/api-keys/allowed-permissions",
      "/v1/api-keys/{keyId}",
      "/v1/api-keys/{keyId}/regenerate",
      "/v1/api-keys/{keyId}/disable",
      "/v1/api-keys/{keyId}/enable",
      "/v1/orgs/{orgId}/audit-events",
    ]) {
      expect(paths).toContain(p);
    }
    const media = doc.paths["/v1/orgs/{orgId}/api-keys"].post.requestBody.content["application/json"];
    expect(Object.keys(media.examples).length).toBeGreaterThan(0);
  });

  describe("errors", () => {
    it("answers 400 naming each bad field", async () => {
      const res = await create(owner, {
        name: "bad",
        allowedIps: ["10.0.0.1", "10.0.0.300"],
        permissions: ["compute:read", "nope:nothing", "BAD PATTERN"],
        roles: ["role_nope"],
        allowedProjects: ["prj_doesnotexist"],
        expiresAt: "2001-01-01T00:00:00Z",
      });
      expect(res.status).toBe(400);
      expect(res.headers["content-type"]).toContain("application/problem+json");
      const paths = res.body.errors.map((e: { path: string }) => e.path).sort();
      expect(paths).toEqual([
        "allowedIps/1",
        "allowedProjects/0",
        "expiresAt",
        "permissions/1",
        "permissions/2",
        "roles/0",
      ]);
      expect(await h.kw.db.kysely.selectFrom("api_keys").selectAll().execute()).toHaveLength(0);
    });

    it("validates shapes: name, expiry formats, unknown fields, grace bounds", async () => {
      expect((await create(owner, { name: "" })).body.errors[0].path).toBe("name");
      expect((await create(owner, { name: "x".repeat(101) })).status).toBe(400);
      expect((await create(owner, { name: "x", bogus: 1 })).body.errors[0].path).toBe("bogus");
      expect((await create(owner, { name: "x", expiresAt: "tomorrow" })).body.errors[0].path).toBe("expiresAt");
      expect((await create(owner, { name: "x", expiresAt: 5 })).body.errors[0].path).toBe("expiresAt");
      expect((await create(owner, { name: "x", expiresAt: "2099-01-01T00:00:00+02:00" })).status).toBe(201);
      // Not on the calendar, or past year 9999 once the offset is applied (it was stored, and
      // every read of the key, and every list holding it, answered 500 from then on).
      for (const expiresAt of ["2030-02-30T00:00:00Z", "9999-12-31T23:30:00-05:00"]) {
        const bad = await create(owner, { name: "far", expiresAt });
        expect(bad.status, expiresAt).toBe(400);
        expect(bad.body.errors[0].path).toBe("expiresAt");
        const edited = await mkKey(h, owner, org, { name: "edited" });
        const patch = await h.req("PATCH", `/v1/api-keys/${edited.id}`, { token: owner, body: { expiresAt } });
        expect(patch.status, expiresAt).toBe(400);
        expect((await h.req("GET", `/v1/api-keys/${edited.id}`, { token: owner })).body.expiresAt).toBeNull();
      }
      expect((await h.req("GET", `/v1/orgs/${org}/api-keys?view=all`, { token: owner })).status).toBe(200);
      expect(
        (await h.kw.db.kysely.selectFrom("api_keys").select("id").where("name", "=", "far").execute()).length,
      ).toBe(0);
      const k = await mkKey(h, owner, org, { name: "g" });
      const grace = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, {
        token: owner,
        body: { graceSeconds: 7 * 86400 + 1 },
      });
      expect(grace.status).toBe(400);
      expect(grace.body.errors[0].path).toBe("graceSeconds");
      const view = await h.req("GET", `/v1/orgs/${org}/api-keys?view=everything`, { token: owner });
      expect(view.status).toBe(400);
      expect(view.body.errors[0].path).toBe("view");
    });

    it("rejects an unknown default project and one outside allowedProjects", async () => {
      const p1 = await mkProject(h, owner, org, "a");
      const p2 = await mkProject(h, owner, org, "b");
      expect((await create(owner, { name: "x", defaultProjectId: "prj_nothere" })).body.errors[0].path).toBe(
        "defaultProjectId",
      );
      expect(
        (await create(owner, { name: "x", allowedProjects: [p1], defaultProjectId: p2 })).body.errors[0].path,
      ).toBe("defaultProjectId");
    });
  });

  describe("edit", () => {
    it("edits name, description, restrictions and expiry with ETag / If-Match", async () => {
      const k = await mkKey(h, owner, org, { name: "e", permissions: ["compute:read", "compute:write"] });
      const res = await h.req("PATCH", `/v1/api-keys/${k.id}`, {
        token: owner,
        headers: { "if-match": '"v1"' },
        body: { name: "e2", description: "new", allowedIps: ["192.0.2.0/24"], expiresAt: "2099-01-01T00:00:00Z" },
      });
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe('"v2"');
      expect(res.body).toMatchObject({
        name: "e2",
        description: "new",
        allowedIps: ["192.0.2.0/24"],
        expiresAt: "2099-01-01T00:00:00.000Z",
        version: 2,
      });
      const stale = await h.req("PATCH", `/v1/api-keys/${k.id}`, {
        token: owner,
        headers: { "if-match": '"v1"' },
        body: { name: "e3" },
      });
      expect(stale.status).toBe(412);
      expect(stale.body.code).toBe("PRECONDITION_FAILED");
      // `*` matches whatever version is current (RFC 9110).
      const any = await h.req("PATCH", `/v1/api-keys/${k.id}`, {
        token: owner,
        headers: { "if-match": "*" },
        body: { name: "e4" },
      });
      expect(any.status).toBe(200);
      expect(any.body.name).toBe("e4");
      const cleared = await h.req("PATCH", `/v1/api-keys/${k.id}`, {
        token: owner,
        body: { expiresAt: null, allowedIps: [] },
      });
      expect(cleared.body).toMatchObject({ expiresAt: null, allowedIps: [] });
      const bad = await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: owner, body: { allowedIps: ["nope"] } });
      expect(bad.status).toBe(400);
      expect(bad.body.errors[0].path).toBe("allowedIps/0");
    });

    it("narrows permissions but never widens them", async () => {
      const k = await mkKey(h, owner, org, { name: "n", permissions: ["compute:read", "compute:write"] });
      const narrow = await h.req("PATCH", `/v1/api-keys/${k.id}`, {
        token: owner,
        body: { permissions: ["compute:read"] },
      });
      expect(narrow.status).toBe(200);
      expect(await effective(h, k.secret)).toEqual(["compute:read"]);
      const widen = await h.req("PATCH", `/v1/api-keys/${k.id}`, {
        token: owner,
        body: { permissions: ["compute:read", "compute:write"] },
      });
      expect(widen.status).toBe(400);
      expect(widen.body.errors[0]).toMatchObject({ path: "permissions", code: "widen" });
      const empty = await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: owner, body: { permissions: [] } });
      expect(empty.status).toBe(400);
      await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: owner, body: { readOnly: true } });
      const lift = await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: owner, body: { readOnly: false } });
      expect(lift.status).toBe(400);
      expect(lift.body.errors[0].path).toBe("readOnly");
    });

    it("narrows an inheriting key to an explicit list", async () => {
      const k = await mkKey(h, owner, org, { name: "i" });
      const res = await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: owner, body: { permissions: ["compute:*"] } });
      expect(res.status).toBe(200);
      expect(res.body.inheritsOwnerPermissions).toBe(false);
      expect(await effective(h, k.secret)).toEqual(["compute:delete", "compute:read", "compute:write"]);
    });
  });

  describe("regenerate", () => {
    it("keeps id and settings; the old secret stops at once without grace", async () => {
      const k = await mkKey(h, owner, org, { name: "r", permissions: ["iam:orgs:read"] });
      const res = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner });
      expect(res.status).toBe(200);
      expect(res.body.apiKey).toMatchObject({ id: k.id, name: "r", permissions: ["iam:orgs:read"], version: 2 });
      expect(res.body.secret).not.toBe(k.secret);
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret })).status).toBe(401);
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: res.body.secret })).status).toBe(200);
    });

    it("keeps the old secret valid during the grace period only", async () => {
      const k = await mkKey(h, owner, org, { name: "r", permissions: ["iam:orgs:read"] });
      const res = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, {
        token: owner,
        body: { graceSeconds: 3600 },
      });
      expect(res.body.apiKey.previousSecretExpiresAt).not.toBeNull();
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret })).status).toBe(200);
      expect((await resolved(h, k.secret))?.matched).toBe("previous");
      // Time passes: the grace period ends (caches learn of it through the key event).
      await h.kw.db.kysely
        .updateTable("api_keys")
        .set({ previous_expires_at: "2000-01-01T00:00:00.000Z" })
        .where("id", "=", k.id)
        .execute();
      h.emitsByHand().kw.services.deps.keyEvents.emit({ kind: "key", keyId: k.id });
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret })).status).toBe(401);
    });

    it("refuses a cached old secret on the API once its grace period has passed, with no change heard", async () => {
      const k = await mkKey(h, owner, org, { name: "r", permissions: ["iam:orgs:read"] });
      await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner, body: { graceSeconds: 60 } });
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret })).status).toBe(200); // now cached
      const { cache } = h.kw.services.verify;
      const misses = cache.stats.misses;
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 120_000 });
      try {
        expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret })).status).toBe(401);
        expect(cache.stats.misses).toBe(misses); // refused from the cached key, not by a reload
      } finally {
        vi.useRealTimers();
      }
    });

    it("returns the same secret for a retried Idempotency-Key, a new one otherwise", async () => {
      const k = await mkKey(h, owner, org, { name: "r" });
      const headers = { "idempotency-key": "retry-1" };
      const a = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner, headers });
      const b = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner, headers });
      expect(a.status).toBe(200);
      expect(b.body.secret).toBe(a.body.secret);
      expect(b.body.apiKey.version).toBe(2);
      const c = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, {
        token: owner,
        headers: { "idempotency-key": "retry-2" },
      });
      expect(c.body.secret).not.toBe(a.body.secret);
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: c.body.secret })).status).toBe(200);
      const late = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner, headers });
      expect(late.status).toBe(409);
      const stored = JSON.stringify(await h.kw.db.kysely.selectFrom("key_regenerations").selectAll().execute());
      expect(stored).not.toContain("retry-1");
    });

    it("replays a regenerate only for whoever made it: another admin's same header regenerates anew, visibly", async () => {
      const sa = await mkServiceAccount(h, owner, org, [{ roleId: "role_viewer" }]);
      const k = await mkKey(h, owner, org, {
        name: "ci",
        owner: { type: "service_account", id: sa },
        permissions: ["iam:projects:read"],
      });
      const admin = await h.newMember(org, owner, [{ roleId: "role_admin" }], "other-admin");
      const headers = { "idempotency-key": "rotate-42" };
      const first = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner, headers });
      expect(first.status).toBe(200);
      const other = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: admin.token, headers });
      expect(other.status).toBe(200);
      expect(other.body.secret).not.toBe(first.body.secret);
      expect(other.body.apiKey.version).toBe(first.body.apiKey.version + 1);
      expect((await h.req("GET", "/v1/me", { token: first.body.secret })).status).toBe(401);
      const events = (await auditRows(h, org)).filter((r) => r.action === "api_key.regenerate" && r.target_id === k.id);
      expect(events.map((e) => e.actor_id)).toEqual(expect.arrayContaining([admin.userId]));
    });

    it("refuses a retry of an Idempotency-Key that asks for another grace period", async () => {
      const k = await mkKey(h, owner, org, { name: "g" });
      const regenerate = (graceSeconds: number) =>
        h.req("POST", `/v1/api-keys/${k.id}/regenerate`, {
          token: owner,
          headers: { "idempotency-key": "grace-1" },
          body: { graceSeconds },
        });
      const first = await regenerate(3600);
      expect(first.status).toBe(200);
      expect((await regenerate(3600)).body.secret).toBe(first.body.secret); // the same request
      // Answered with the first secret before, its caller believing no grace (or another) ran.
      for (const other of [0, 60]) {
        const res = await regenerate(other);
        expect(res.status).toBe(409);
        expect(res.body.errors[0].path).toBe("graceSeconds");
        expect(JSON.stringify(res.body)).not.toContain(first.body.secret);
      }
    });

    it("answers concurrent twins with one Idempotency-Key with one secret", async () => {
      const k = await mkKey(h, owner, org, { name: "r" });
      const headers = { "idempotency-key": "twin" };
      const [a, b] = await Promise.all([
        h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner, headers }),
        h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner, headers }),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.body.secret).toBe(b.body.secret);
      expect((await h.req("GET", `/v1/api-keys/${k.id}`, { token: owner })).body.version).toBe(2);
    });
  });

  describe("disable, enable, delete", () => {
    it("disables and enables a key without deleting it", async () => {
      const k = await mkKey(h, owner, org, { name: "d", permissions: ["iam:orgs:read"] });
      const off = await h.req("POST", `/v1/api-keys/${k.id}/disable`, { token: owner });
      expect(off.body).toMatchObject({ status: "disabled", version: 2 });
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret })).status).toBe(401);
      const again = await h.req("POST", `/v1/api-keys/${k.id}/disable`, { token: owner });
      expect(again.body.version).toBe(2);
      const on = await h.req("POST", `/v1/api-keys/${k.id}/enable`, { token: owner, headers: { "if-match": '"v2"' } });
      expect(on.body.status).toBe("active");
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: k.secret })).status).toBe(200);
    });

    it("deletes at once and affects nothing else", async () => {
      const a = await mkKey(h, owner, org, { name: "a", permissions: ["iam:apikeys:create", "iam:orgs:read"] });
      const child = await mkKey(h, a.secret, org, { name: "child", permissions: ["iam:orgs:read"] });
      const del = await h.req("DELETE", `/v1/api-keys/${a.id}`, { token: owner });
      expect(del.status).toBe(204);
      expect((await h.req("GET", `/v1/api-keys/${a.id}`, { token: owner })).status).toBe(404);
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: a.secret })).status).toBe(401);
      expect((await h.req("GET", `/v1/orgs/${org}`, { token: child.secret })).status).toBe(200);
      expect((await h.req("DELETE", `/v1/api-keys/${a.id}`, { token: owner })).status).toBe(404);
    });

    it("emits a key event after each mutation", async () => {
      const seen: string[] = [];
      h.kw.services.deps.keyEvents.on((c) => c.kind === "key" && seen.push(c.keyId));
      const k = await mkKey(h, owner, org, { name: "e" });
      await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: owner, body: { name: "e2" } });
      await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner });
      await h.req("POST", `/v1/api-keys/${k.id}/disable`, { token: owner });
      await h.req("POST", `/v1/api-keys/${k.id}/enable`, { token: owner });
      await h.req("DELETE", `/v1/api-keys/${k.id}`, { token: owner });
      expect(seen.filter((id) => id === k.id).length).toBeGreaterThanOrEqual(6);
    });
  });

  describe("audit", () => {
    it("writes one event per mutation with actor, target, before/after, IP and user agent", async () => {
      const k = await mkKey(h, owner, org, { name: "a" });
      await h.req("PATCH", `/v1/api-keys/${k.id}`, {
        token: owner,
        body: { name: "b" },
        ip: "198.51.100.4",
        headers: { "user-agent": "test-agent" },
      });
      await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: owner });
      await h.req("POST", `/v1/api-keys/${k.id}/disable`, { token: owner });
      await h.req("DELETE", `/v1/api-keys/${k.id}`, { token: owner });
      const rows = (await auditRows(h, org)).filter((r) => r.action.startsWith("api_key."));
      expect(rows.map((r) => r.action)).toEqual([
        "api_key.create",
        "api_key.update",
        "api_key.regenerate",
        "api_key.disable",
        "api_key.delete",
      ]);
      const upd = rows[1];
      expect(JSON.parse(upd.details as string)).toEqual({ before: { name: "a" }, after: { name: "b" } });
      expect(upd).toMatchObject({
        ip: "198.51.100.4",
        user_agent: "test-agent",
        target_type: "api_key",
        target_id: k.id,
        actor_type: "user",
        result: "success",
      });
      expect(upd.request_id).toMatch(/^req_/);
    });

    it("records the key as the credential when a key acts", async () => {
      const parent = await mkKey(h, owner, org, { name: "p", permissions: ["iam:apikeys:create", "compute:read"] });
      await mkKey(h, parent.secret, org, { name: "c", permissions: ["compute:read"] });
      const denied = await h.req("POST", `/v1/orgs/${org}/api-keys`, {
        token: parent.secret,
        body: { name: "w", permissions: ["storage:write"] },
      });
      expect(denied.status).toBe(403);
      const rows = (await auditRows(h, org)).filter((r) => r.actor_credential === parent.id);
      // Both may fall in one millisecond: compared as a set.
      expect(rows.map((r) => `${r.action} ${r.result}`).sort()).toEqual([
        "api_key.create denied",
        "api_key.create success",
      ]);
    });
  });
});
