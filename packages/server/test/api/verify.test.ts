import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { generateSecret } from "../../src/domain/keys/secret.js";
import { Harness, TRANSPORTS, describeEachDialect } from "../harness.js";
import { APIKEY_GRANT } from "../../src/http/routes/token.js";
import { mkKey, mkProject, mkRole, setOrgSettings } from "./key-helpers.js";
import { verifierKey, verify } from "./verify-helpers.js";

// Through inject (Fastify's route) and over HTTP (the lane in front of Fastify): the same answers.
for (const transport of TRANSPORTS)
  describeEachDialect(`POST /v1/verify (${transport})`, (dialect) => {
    let h: Harness;
    let verifier: string;
    let owner: string;
    let org: { token: string; orgId: string; userId: string };

    beforeEach(async () => {
      h = await Harness.init(dialect, {}, undefined, transport);
      verifier = await verifierKey(h);
      owner = await h.login();
      org = await h.newOrgWithOwner("customer");
    });
    afterEach(async () => {
      vi.useRealTimers();
      await h.close();
    });

    describe("happy", () => {
      it("answers valid with the key's identity and effective permissions", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci", permissions: ["compute:read", "storage:read"] });
        const res = await verify(h, verifier, { key: k.secret, permissions: ["compute:read"] });
        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          valid: true,
          keyId: k.id,
          orgId: org.orgId,
          owner: { type: "user", id: org.userId },
          projectId: null,
          permissions: ["compute:read", "storage:read"],
          expiresAt: null,
        });
      });

      it("accepts the operator org owner's session as a verifier", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        const res = await verify(h, owner, { key: k.secret });
        expect(res.body.valid).toBe(true);
      });

      it("serves warm keys from the cache and writes nothing", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        const { cache, usage } = h.kw.services.verify;
        usage.stop();
        await verify(h, verifier, { key: k.secret });
        const before = { ...cache.stats };
        for (let i = 0; i < 5; i++) expect((await verify(h, verifier, { key: k.secret })).body.valid).toBe(true);
        expect(cache.stats.misses).toBe(before.misses);
        expect(cache.stats.hits).toBeGreaterThanOrEqual(before.hits + 5);
        expect(usage.stats.writes).toBe(0);
      });
    });

    describe("errors", () => {
      it("gives the same answer for an unknown key and a wrong secret", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        const unknown = await verify(h, verifier, { key: generateSecret("kw").secret });
        await h.req("DELETE", `/v1/api-keys/${k.id}`, { token: org.token });
        const deleted = await verify(h, verifier, { key: k.secret });
        expect(unknown.status).toBe(200);
        expect(unknown.body).toEqual({ valid: false, code: "NOT_FOUND" });
        expect(deleted.body).toEqual(unknown.body);
      });

      it("rejects typos and foreign strings as MALFORMED without a lookup", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        const last = k.secret.at(-1) === "a" ? "b" : "a";
        await verify(h, verifier, { key: k.secret });
        const misses = h.kw.services.verify.cache.stats.misses;
        for (const key of [`${k.secret.slice(0, -1)}${last}`, "", "hello", "kw_", `${k.secret}x`, "Bearer abc"]) {
          const res = await verify(h, verifier, { key });
          expect(res.status).toBe(200);
          expect(res.body).toEqual({ valid: false, code: "MALFORMED" });
        }
        expect(h.kw.services.verify.cache.stats.misses).toBe(misses);
      });

      it("says INSUFFICIENT_PERMISSIONS for a permission the key lacks", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci", permissions: ["compute:read"] });
        const res = await verify(h, verifier, { key: k.secret, permissions: ["compute:read", "storage:delete"] });
        expect(res.body).toEqual({ valid: false, code: "INSUFFICIENT_PERMISSIONS" });
      });

      it("checks the end client's IP against the key's allow list", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci", allowedIps: ["203.0.113.0/24"] });
        expect((await verify(h, verifier, { key: k.secret, ip: "203.0.113.9" })).body.valid).toBe(true);
        expect((await verify(h, verifier, { key: k.secret, ip: "198.51.100.1" })).body).toEqual({
          valid: false,
          code: "IP_NOT_ALLOWED",
        });
        expect((await verify(h, verifier, { key: k.secret })).body).toEqual({ valid: false, code: "IP_NOT_ALLOWED" });
      });

      it("judges each client's address on every call, and remembers decisions without it", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "busy", allowedIps: ["203.0.113.0/25"] });
        const ask = async (ip: string) =>
          (await verify(h, verifier, { key: k.secret, ip, permissions: ["compute:read"] })).body;
        // Many clients of one key, in and out of its list, in turns: each answered for its own address.
        for (let i = 0; i < 40; i++) {
          expect((await ask(`203.0.113.${i}`)).valid).toBe(true);
          expect(await ask(`203.0.113.${128 + i}`)).toEqual({ valid: false, code: "IP_NOT_ALLOWED" });
        }
        // One remembered decision for that request, whatever the address (a memo per client cost
        // many times the key's own memory).
        const entry = [
          ...(
            h.kw.services.verify.cache as unknown as {
              entries: Map<string, { value: { key: { id: string }; memo: Map<string, unknown> | null } }>;
            }
          ).entries.values(),
        ].find((e) => e.value.key.id === k.id);
        expect(entry?.value.memo?.size).toBe(1);
        // A refusal of the key itself comes before its address, as ever.
        await h.req("POST", `/v1/api-keys/${k.id}/disable`, { token: org.token });
        expect(await ask("198.51.100.1")).toEqual({ valid: false, code: "DISABLED" });
      });

      it("takes methods as written (case-sensitive) and a project id of no project's shape as no project", async () => {
        const ro = await mkKey(h, org.token, org.orgId, { name: "ro", readOnly: true });
        expect((await verify(h, verifier, { key: ro.secret, method: "GET" })).body.valid).toBe(true);
        for (const method of ["get", "Get", "head", "options"])
          expect((await verify(h, verifier, { key: ro.secret, method })).body, method).toEqual({
            valid: false,
            code: "READ_ONLY",
          });
        // Text no project id holds (a NUL: PostgreSQL refuses to compare it) is a decision, not a 503.
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        const p = await mkProject(h, org.token, org.orgId, "p");
        const tok = await h.req("POST", "/v1/token", {
          body: { grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: k.secret },
        });
        for (const key of [k.secret, tok.body.access_token])
          for (const projectId of ["prj_\u0000abc", `${p}\u0000`, "prj_\ud800x", "\u0000"]) {
            const res = await verify(h, verifier, { key, projectId });
            expect({ status: res.status, body: res.body }, JSON.stringify(projectId)).toEqual({
              status: 200,
              body: { valid: false, code: "PROJECT_NOT_ALLOWED" },
            });
          }
      });

      it("enforces read-only keys and project restrictions", async () => {
        const p1 = await mkProject(h, org.token, org.orgId, "p1");
        const p2 = await mkProject(h, org.token, org.orgId, "p2");
        const k = await mkKey(h, org.token, org.orgId, { name: "ro", readOnly: true, allowedProjects: [p1] });
        expect((await verify(h, verifier, { key: k.secret, projectId: p1, method: "GET" })).body.valid).toBe(true);
        expect((await verify(h, verifier, { key: k.secret, projectId: p1, method: "POST" })).body.code).toBe(
          "READ_ONLY",
        );
        expect((await verify(h, verifier, { key: k.secret, projectId: p2 })).body.code).toBe("PROJECT_NOT_ALLOWED");
        // Nor org-wide: a request that names no project is outside them, unless the key's
        // preferred project places it.
        expect((await verify(h, verifier, { key: k.secret })).body.code).toBe("PROJECT_NOT_ALLOWED");
        const preferring = await mkKey(h, org.token, org.orgId, {
          name: "p1 first",
          allowedProjects: [p1],
          defaultProjectId: p1,
        });
        expect((await verify(h, verifier, { key: preferring.secret })).body).toMatchObject({
          valid: true,
          projectId: p1,
        });
        // Its token likewise: exchanged for one of its projects, and acting only there.
        const exchange = (projectId?: string) =>
          h.req("POST", "/v1/token", { body: { grant_type: APIKEY_GRANT, apikey: k.secret, projectId } });
        const anywhere = await exchange();
        expect(anywhere.status).toBe(400);
        expect(anywhere.body.error).toBe("invalid_request");
        const token = (await exchange(p1)).body.access_token;
        expect((await verify(h, verifier, { key: token, projectId: p1 })).body.valid).toBe(true);
        expect((await verify(h, verifier, { key: token })).body.code).toBe("PROJECT_NOT_ALLOWED");
      });

      it("answers a key, and its token, only for projects of the key's own org", async () => {
        const own = await mkProject(h, org.token, org.orgId, "own");
        const other = await h.newOrgWithOwner("other");
        const theirs = await mkProject(h, other.token, other.orgId, "theirs");
        const k = await mkKey(h, org.token, org.orgId, { name: "any project", permissions: ["compute:read"] });
        const refused = { valid: false, code: "PROJECT_NOT_ALLOWED" };
        const asks = (key: string, projectId: string) => ({ key, projectId, permissions: ["compute:read"] });
        expect((await verify(h, verifier, asks(k.secret, own))).body).toMatchObject({ valid: true, projectId: own });
        expect((await verify(h, verifier, asks(k.secret, theirs))).body).toEqual(refused);
        expect((await verify(h, verifier, asks(k.secret, "prj_doesnotexist"))).body).toEqual(refused);
        // Its token is not issued for another org's project, nor answered for one.
        const exchange = (projectId?: string) =>
          h.req("POST", "/v1/token", { body: { grant_type: APIKEY_GRANT, apikey: k.secret, projectId } });
        const narrowed = await exchange(theirs);
        expect(narrowed.status).toBe(400);
        expect(narrowed.body.error).toBe("invalid_scope");
        const token = (await exchange()).body.access_token;
        expect((await verify(h, verifier, asks(token, theirs))).body).toEqual(refused);
        expect((await verify(h, verifier, asks(token, own))).body).toMatchObject({ valid: true, projectId: own });
        // A deleted project places no request any more, though the answer for it was cached.
        expect((await h.req("DELETE", `/v1/projects/${own}`, { token: org.token })).status).toBe(204);
        expect((await verify(h, verifier, asks(k.secret, own))).body).toEqual(refused);
      });

      it("places no request in a deleted project the key preferred; the key acts on where it may", async () => {
        const p = await mkProject(h, org.token, org.orgId, "p");
        const q = await mkProject(h, org.token, org.orgId, "q");
        const kept = await mkKey(h, org.token, org.orgId, {
          name: "kept",
          allowedProjects: [p, q],
          defaultProjectId: p,
        });
        const free = await mkKey(h, org.token, org.orgId, { name: "free", defaultProjectId: p });
        const exchange = (apikey: string) => h.req("POST", "/v1/token", { body: { grant_type: APIKEY_GRANT, apikey } });
        const token = (await exchange(kept.secret)).body.access_token;
        for (const key of [kept.secret, token, free.secret])
          expect((await verify(h, verifier, { key })).body).toMatchObject({ valid: true, projectId: p });
        expect((await h.req("DELETE", `/v1/projects/${p}`, { token: org.token })).status).toBe(204);
        const refused = { valid: false, code: "PROJECT_NOT_ALLOWED" };
        // Kept to projects and preferring none now: a request must name one of them (q). Its token,
        // bought for its preferred project p (a kept key is exchanged for one project), acts nowhere.
        for (const key of [kept.secret, token]) {
          expect((await verify(h, verifier, { key })).body).toEqual(refused);
          expect((await verify(h, verifier, { key, projectId: p })).body).toEqual(refused);
        }
        expect((await verify(h, verifier, { key: kept.secret, projectId: q })).body).toMatchObject({
          valid: true,
          projectId: q,
        });
        expect((await verify(h, verifier, { key: token, projectId: q })).body).toEqual(refused);
        // Not kept to any: org-wide again.
        expect((await verify(h, verifier, { key: free.secret })).body).toMatchObject({ valid: true, projectId: null });
        const view = await h.req("GET", `/v1/api-keys/${free.id}`, { token: org.token });
        expect(view.body).toMatchObject({ defaultProjectId: null, version: free.key.version + 1 });
      });

      it("never answers one request's permissions for another's", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "rw", permissions: ["compute:read", "compute:write"] });
        const both = await verify(h, verifier, { key: k.secret, permissions: ["compute:read", "compute:write"] });
        expect(both.body.valid).toBe(true);
        // One name with a space in it is no permission anyone holds.
        const joined = await verify(h, verifier, { key: k.secret, permissions: ["compute:read compute:write"] });
        expect(joined.body).toEqual({ valid: false, code: "INSUFFICIENT_PERMISSIONS" });
      });

      it("says EXPIRED once the key's expiry passes", async () => {
        const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
        const k = await mkKey(h, org.token, org.orgId, { name: "ci", expiresAt });
        expect((await verify(h, verifier, { key: k.secret })).body.valid).toBe(true);
        vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 2 * 3_600_000 });
        expect((await verify(h, verifier, { key: k.secret })).body).toEqual({ valid: false, code: "EXPIRED" });
      });

      it("turns bad requests into problem+json 4xx, never 500", async () => {
        const cases: [Record<string, unknown>, number][] = [
          [{ payload: "{not json", headers: { "content-type": "application/json" } }, 400],
          [{ payload: JSON.stringify({}), headers: { "content-type": "application/json" } }, 400],
          [{ payload: JSON.stringify({ key: "x", extra: 1 }), headers: { "content-type": "application/json" } }, 400],
          [{ payload: JSON.stringify({ key: ["a", "b"] }), headers: { "content-type": "application/json" } }, 400],
          [
            {
              payload: JSON.stringify({ key: "kw_x", ip: "not-an-ip" }),
              headers: { "content-type": "application/json" },
            },
            400,
          ],
          [
            { payload: JSON.stringify({ key: "x".repeat(8193) }), headers: { "content-type": "application/json" } },
            400,
          ],
          [
            { payload: JSON.stringify({ key: "kw_x", method: "" }), headers: { "content-type": "application/json" } },
            400,
          ],
          [{ payload: "key=abc", headers: { "content-type": "application/x-www-form-urlencoded" } }, 415],
          [{ payload: "abc", headers: { "content-type": "text/plain" } }, 415],
          [
            { payload: JSON.stringify({ key: "x".repeat(70_000) }), headers: { "content-type": "application/json" } },
            413,
          ],
        ];
        for (const [opts, status] of cases) {
          const res = await h.req("POST", "/v1/verify", {
            token: verifier,
            payload: opts.payload as string,
            headers: opts.headers as Record<string, string>,
          });
          expect(res.status, String(opts.payload).slice(0, 40)).toBe(status);
          expect(res.headers["content-type"]).toContain("application/problem+json");
        }
      });
    });

    describe("authorization", () => {
      it("needs a credential", async () => {
        const res = await h.req("POST", "/v1/verify", { body: { key: "kw_x" } });
        expect(res.status).toBe(401);
      });

      it("refuses callers without iam:apikeys:verify, even customer org owners", async () => {
        const own = await mkKey(h, org.token, org.orgId, { name: "mine" });
        expect((await verify(h, org.token, { key: own.secret })).status).toBe(403);
        expect((await verify(h, own.secret, { key: own.secret })).status).toBe(403);
        // An operator-org key without the permission is refused too.
        const plain = await mkKey(h, owner, h.operatorOrgId, { name: "plain", permissions: ["iam:orgs:read"] });
        expect((await verify(h, plain.secret, { key: own.secret })).status).toBe(403);
      });

      it("stops accepting a token as a verifier at once when its key is made read-only", async () => {
        const exchanged = await h.req("POST", "/v1/token", {
          body: { grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: verifier },
        });
        expect(exchanged.status).toBe(200);
        const token = exchanged.body.access_token;
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        expect((await verify(h, token, { key: k.secret })).status).toBe(200);
        const keys = await h.req("GET", `/v1/orgs/${h.operatorOrgId}/api-keys?view=all`, { token: owner });
        const vk = keys.body.items.find((i: { name: string }) => i.name === "verifier");
        const patched = await h.req("PATCH", `/v1/api-keys/${vk.id}`, { token: owner, body: { readOnly: true } });
        expect(patched.status).toBe(200);
        // Verifying is not reading: the token, narrowed by its key, may no longer verify.
        expect((await verify(h, token, { key: k.secret })).status).toBe(403);
      });

      it("stops accepting a verifier at once when its key is disabled", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        expect((await verify(h, verifier, { key: k.secret })).status).toBe(200);
        const res = await h.req("GET", `/v1/orgs/${h.operatorOrgId}/api-keys?view=all`, { token: owner });
        const vk = res.body.items.find((i: { name: string }) => i.name === "verifier");
        expect((await h.req("POST", `/v1/api-keys/${vk.id}/disable`, { token: owner })).status).toBe(200);
        expect((await verify(h, verifier, { key: k.secret })).status).toBe(401);
      });
    });

    describe("invalidation on this node", () => {
      it("sees disable, enable, regenerate and delete at once", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        expect((await verify(h, verifier, { key: k.secret })).body.valid).toBe(true);
        await h.req("POST", `/v1/api-keys/${k.id}/disable`, { token: org.token });
        expect((await verify(h, verifier, { key: k.secret })).body).toEqual({ valid: false, code: "DISABLED" });
        await h.req("POST", `/v1/api-keys/${k.id}/enable`, { token: org.token });
        expect((await verify(h, verifier, { key: k.secret })).body.valid).toBe(true);
        const regen = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: org.token, body: {} });
        expect(regen.status).toBe(200);
        expect((await verify(h, verifier, { key: k.secret })).body.code).toBe("NOT_FOUND");
        expect((await verify(h, verifier, { key: regen.body.secret })).body.valid).toBe(true);
        await h.req("DELETE", `/v1/api-keys/${k.id}`, { token: org.token });
        expect((await verify(h, verifier, { key: regen.body.secret })).body.code).toBe("NOT_FOUND");
      });

      it("honours a regenerate grace period, then stops the old secret", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        const regen = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, {
          token: org.token,
          body: { graceSeconds: 60 },
        });
        expect((await verify(h, verifier, { key: k.secret })).body.valid).toBe(true);
        vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 120_000 });
        expect((await verify(h, verifier, { key: k.secret })).body.code).toBe("NOT_FOUND");
        expect((await verify(h, verifier, { key: regen.body.secret })).body.valid).toBe(true);
      });

      it("narrows a member's key as soon as their role changes, and stops it when they leave", async () => {
        const role = await mkRole(h, org.token, org.orgId, ["compute:read", "compute:write", "iam:apikeys:create"]);
        const m = await h.newMember(org.orgId, org.token, [{ roleId: role }]);
        const k = await mkKey(h, m.token, org.orgId, { name: "mine" });
        expect((await verify(h, verifier, { key: k.secret, permissions: ["compute:write"] })).body.valid).toBe(true);
        const patch = await h.req("PATCH", `/v1/orgs/${org.orgId}/members/${m.userId}`, {
          token: org.token,
          body: { roles: [{ roleId: "role_viewer" }] },
        });
        expect(patch.status).toBe(200);
        expect((await verify(h, verifier, { key: k.secret, permissions: ["compute:write"] })).body.code).toBe(
          "INSUFFICIENT_PERMISSIONS",
        );
        await h.req("DELETE", `/v1/orgs/${org.orgId}/members/${m.userId}`, { token: org.token });
        expect((await verify(h, verifier, { key: k.secret })).body.code).toBe("OWNER_INACTIVE");
      });

      it("keeps a member's key standing, with nothing granted, once every role is taken away", async () => {
        const role = await mkRole(h, org.token, org.orgId, ["compute:read", "iam:apikeys:create"]);
        const m = await h.newMember(org.orgId, org.token, [{ roleId: role }]);
        const k = await mkKey(h, m.token, org.orgId, { name: "mine" });
        const patch = await h.req("PATCH", `/v1/orgs/${org.orgId}/members/${m.userId}`, {
          token: org.token,
          body: { roles: [] },
        });
        expect(patch.status).toBe(200);
        // Still a member: the key stands (not OWNER_INACTIVE), but its owner grants it nothing.
        const plain = (await verify(h, verifier, { key: k.secret })).body;
        expect(plain).toMatchObject({ valid: true, keyId: k.id, permissions: [] });
        expect((await verify(h, verifier, { key: k.secret, permissions: ["compute:read"] })).body.code).toBe(
          "INSUFFICIENT_PERMISSIONS",
        );
      });

      it("applies an org IP policy change at once", async () => {
        const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
        expect((await verify(h, verifier, { key: k.secret, ip: "198.51.100.1" })).body.valid).toBe(true);
        await setOrgSettings(h, org.token, org.orgId, { allowedIps: ["203.0.113.0/24"] });
        expect((await verify(h, verifier, { key: k.secret, ip: "198.51.100.1" })).body.code).toBe("IP_NOT_ALLOWED");
      });

      it("follows a custom role's edit", async () => {
        const role = await mkRole(h, org.token, org.orgId, ["compute:read", "storage:read", "iam:apikeys:create"]);
        const m = await h.newMember(org.orgId, org.token, [{ roleId: role }]);
        const k = await mkKey(h, m.token, org.orgId, { name: "mine" });
        expect((await verify(h, verifier, { key: k.secret, permissions: ["storage:read"] })).body.valid).toBe(true);
        const res = await h.req("PATCH", `/v1/roles/${role}`, {
          token: org.token,
          body: { permissions: ["compute:read", "iam:apikeys:create"] },
        });
        expect(res.status).toBe(200);
        expect((await verify(h, verifier, { key: k.secret, permissions: ["storage:read"] })).body.code).toBe(
          "INSUFFICIENT_PERMISSIONS",
        );
      });
    });
  });

describe("POST /v1/verify when the store fails", () => {
  let h: Harness;
  let verifier: string;
  let org: { token: string; orgId: string };
  beforeEach(async () => {
    h = await Harness.init("sqlite");
    verifier = await verifierKey(h);
    org = await h.newOrgWithOwner("outage");
  });
  afterEach(async () => h.close());

  it("answers 503 when a verifier's right cannot be checked, and keeps no refusal", async () => {
    const k = await mkKey(h, org.token, org.orgId, { name: "k" });
    // The verifier's key is resolved (and cached) by another request: only its right to
    // verify is still to be read.
    expect((await h.req("GET", "/v1/me", { token: verifier })).status).toBe(200);
    await sql`alter table bindings rename to bindings_away`.execute(h.kw.db.kysely);
    const res = await verify(h, verifier, { key: k.secret });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("UNAVAILABLE");
    expect(res.headers["retry-after"]).toBe("1");
    await sql`alter table bindings_away rename to bindings`.execute(h.kw.db.kysely);
    expect((await verify(h, verifier, { key: k.secret })).body.valid).toBe(true);
  });

  it("answers 503 with Retry-After for a cache miss, while warm keys keep working", async () => {
    const warm = await mkKey(h, org.token, org.orgId, { name: "warm" });
    const cold = await mkKey(h, org.token, org.orgId, { name: "cold" });
    expect((await verify(h, verifier, { key: warm.secret })).body.valid).toBe(true);
    h.kw.services.verify.loader.byHash = async () => {
      throw new Error("connection refused");
    };
    const res = await verify(h, verifier, { key: cold.secret });
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("UNAVAILABLE");
    expect(res.headers["retry-after"]).toBe("1");
    expect((await verify(h, verifier, { key: warm.secret })).body.valid).toBe(true);
  });
});
