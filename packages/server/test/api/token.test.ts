import { SignJWT, createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import pino from "pino";
import type { Deps } from "../../src/services/deps.js";
import { SIGNING_ALG, SigningKeys } from "../../src/services/tokens/signing-keys.js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey, mkProject, mkServiceAccount } from "./key-helpers.js";
import { verifierKey, verify } from "./verify-helpers.js";

const GRANT = "urn:keyward:params:oauth:grant-type:apikey";

describeEachDialect("token exchange", (dialect) => {
  let h: Harness;
  let org: { token: string; orgId: string; userId: string };
  let verifier: string;

  beforeEach(async () => {
    h = await Harness.init(dialect);
    org = await h.newOrgWithOwner("customer");
    verifier = await verifierKey(h);
  });
  afterEach(async () => {
    vi.useRealTimers();
    await h.close();
  });

  const exchange = (body: Record<string, unknown>, ip?: string) => h.req("POST", "/v1/token", { body, ip });
  /** A form body: parameters, or the encoded text as a client sent it. */
  const form = (params: Record<string, string> | string, headers: Record<string, string> = {}) =>
    h.app.inject({
      method: "POST",
      url: "/v1/token",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      payload: typeof params === "string" ? params : new URLSearchParams(params).toString(),
    });

  describe("happy", () => {
    it("exchanges a key (JSON) for an EdDSA JWT that the JWKS verifies", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci", permissions: ["compute:read", "storage:read"] });
      const res = await exchange({ grant_type: GRANT, apikey: k.secret });
      expect(res.status).toBe(200);
      expect(res.headers["cache-control"]).toBe("no-store");
      expect(res.body).toMatchObject({ token_type: "Bearer", expires_in: 900, scope: "compute:read storage:read" });
      const header = decodeProtectedHeader(res.body.access_token);
      expect(header.alg).toBe("EdDSA");
      expect(header.kid).toMatch(/^sk_/);
      const jwks = await h.req("GET", "/.well-known/jwks.json");
      expect(jwks.status).toBe(200);
      expect(jwks.body.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", kid: header.kid, alg: "EdDSA" });
      expect(jwks.body.keys[0].d).toBeUndefined();
      const { payload } = await jwtVerify(res.body.access_token, createLocalJWKSet(jwks.body), {
        audience: "keyward",
        issuer: h.kw.services.deps.config.publicUrl,
      });
      expect(payload).toMatchObject({
        sub: org.userId,
        org: org.orgId,
        key_id: k.id,
        perms: ["compute:read", "storage:read"],
        projects: null,
        ro: false,
        aud: "keyward",
      });
      expect((payload.exp as number) - (payload.iat as number)).toBe(900);
      expect(payload.jti).toMatch(/^tok_/);
    });

    it("accepts a form body and narrows scope, project and lifetime", async () => {
      const p = await mkProject(h, org.token, org.orgId);
      const k = await mkKey(h, org.token, org.orgId, { name: "ci", permissions: ["compute:read", "storage:read"] });
      const res = await form({
        grant_type: GRANT,
        apikey: k.secret,
        scope: "compute:read",
        projectId: p,
        expires_in: "60",
      });
      expect(res.statusCode).toBe(200);
      const body = JSON.parse(res.body);
      expect(body).toMatchObject({ expires_in: 60, scope: "compute:read" });
      const claims = decodeJwt(body.access_token);
      expect(claims.perms).toEqual(["compute:read"]);
      expect(claims.projects).toEqual([p]);
    });

    it("ignores an OAuth client's Basic credentials (the key in the body is the credential); routes that need one refuse them", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci", permissions: ["compute:read"] });
      const basic = { authorization: `Basic ${Buffer.from("client:secret").toString("base64")}` };
      const res = await h.app.inject({
        method: "POST",
        url: "/v1/token",
        headers: { ...basic, "content-type": "application/x-www-form-urlencoded" },
        payload: new URLSearchParams({ grant_type: GRANT, apikey: k.secret }).toString(),
      });
      expect(res.statusCode).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ token_type: "Bearer", scope: "compute:read" });
      const orgs = await h.req("GET", "/v1/orgs", { headers: basic });
      expect(orgs.status).toBe(401);
      expect(orgs.body.detail).toContain("Bearer");
    });

    it("carries the key's and the org's IP allow lists, so an offline check keeps to them", async () => {
      const plain = await mkKey(h, org.token, org.orgId, { name: "anywhere" });
      const open = decodeJwt((await exchange({ grant_type: GRANT, apikey: plain.secret })).body.access_token);
      expect(open).not.toHaveProperty("ips");
      expect(open).not.toHaveProperty("org_ips");
      const k = await mkKey(h, org.token, org.orgId, { name: "net", allowedIps: ["203.0.113.0/24", "2001:DB8::1"] });
      const set = await h.req("PATCH", `/v1/orgs/${org.orgId}`, {
        token: org.token,
        body: { settings: { allowedIps: ["203.0.113.0/25", "2001:db8::/32"] } },
      });
      expect(set.status).toBe(200);
      const res = await exchange({ grant_type: GRANT, apikey: k.secret }, "203.0.113.7");
      expect(res.status).toBe(200);
      const claims = decodeJwt(res.body.access_token);
      expect(claims.ips).toEqual(["203.0.113.0/24", "2001:db8::1"]);
      expect(claims.org_ips).toEqual(["203.0.113.0/25", "2001:db8::/32"]);
      // The key without a list of its own still carries the org's.
      const orgOnly = await exchange({ grant_type: GRANT, apikey: plain.secret }, "203.0.113.7");
      expect(decodeJwt(orgOnly.body.access_token)).toMatchObject({ org_ips: ["203.0.113.0/25", "2001:db8::/32"] });
      expect(decodeJwt(orgOnly.body.access_token)).not.toHaveProperty("ips");
    });

    it("never outlives the key", async () => {
      const expiresAt = new Date(Date.now() + 120_000).toISOString();
      const k = await mkKey(h, org.token, org.orgId, { name: "ci", expiresAt });
      const res = await exchange({ grant_type: GRANT, apikey: k.secret, expires_in: 3600 });
      expect(res.status).toBe(200);
      expect(res.body.expires_in).toBeLessThanOrEqual(120);
    });

    it("answers verify with the token's expiry, or its key's when that comes first", async () => {
      const exp = (t: string) => new Date((decodeJwt(t).exp as number) * 1000).toISOString();
      const open = await mkKey(h, org.token, org.orgId, { name: "no expiry" });
      const t1 = (await exchange({ grant_type: GRANT, apikey: open.secret, expires_in: 60 })).body.access_token;
      expect((await verify(h, verifier, { key: t1 })).body).toMatchObject({ valid: true, expiresAt: exp(t1) });
      const later = await mkKey(h, org.token, org.orgId, {
        name: "expires tomorrow",
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      });
      const t2 = (await exchange({ grant_type: GRANT, apikey: later.secret })).body.access_token;
      expect((await verify(h, verifier, { key: t2 })).body).toMatchObject({ valid: true, expiresAt: exp(t2) });
      const soon = await mkKey(h, org.token, org.orgId, {
        name: "expires in 100 s",
        expiresAt: new Date(Date.now() + 100_000).toISOString(),
      });
      const t3 = (await exchange({ grant_type: GRANT, apikey: soon.secret, expires_in: 3600 })).body.access_token;
      // The token is cut to its key's life (down to the second), and the answer says so.
      expect(Date.parse(exp(t3))).toBeLessThanOrEqual(Date.parse(soon.key.expiresAt));
      expect(Date.parse(exp(t3))).toBeGreaterThan(Date.parse(soon.key.expiresAt) - 1000);
      expect((await verify(h, verifier, { key: t3 })).body).toMatchObject({ valid: true, expiresAt: exp(t3) });
    });

    it("stores the private signing key encrypted", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      await exchange({ grant_type: GRANT, apikey: k.secret });
      const rows = await h.kw.db.kysely.selectFrom("signing_keys").selectAll().execute();
      expect(rows).toHaveLength(1);
      expect(rows[0].private_jwk_encrypted).toMatch(/^v1\./);
      expect(rows[0].private_jwk_encrypted).not.toContain('"d"');
      expect(JSON.parse(rows[0].public_jwk).d).toBeUndefined();
    });
  });

  describe("tokens as credentials", () => {
    it("authenticates Keyward's own API, limited to the token's permissions", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const t = (await exchange({ grant_type: GRANT, apikey: k.secret, scope: "iam:orgs:read" })).body.access_token;
      const me = await h.req("GET", "/v1/me", { token: t });
      expect(me.status).toBe(200);
      expect(me.body.credential).toMatchObject({ type: "token" });
      expect((await h.req("GET", `/v1/orgs/${org.orgId}`, { token: t })).status).toBe(200);
      expect((await h.req("POST", `/v1/orgs/${org.orgId}/projects`, { token: t, body: { name: "x" } })).status).toBe(
        403,
      );
      const [head, body, sig] = t.split(".");
      const forged = `${head}.${body}.${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`;
      expect((await h.req("GET", "/v1/me", { token: forged })).status).toBe(401);
    });

    it("verifies through /v1/verify, narrowed, and stops when its key is disabled", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci", permissions: ["compute:read", "storage:read"] });
      const t = (await exchange({ grant_type: GRANT, apikey: k.secret, scope: "compute:read" })).body.access_token;
      const ok = await verify(h, verifier, { key: t, permissions: ["compute:read"] });
      expect(ok.body).toMatchObject({ valid: true, keyId: k.id, permissions: ["compute:read"] });
      expect((await verify(h, verifier, { key: t, permissions: ["storage:read"] })).body.code).toBe(
        "INSUFFICIENT_PERMISSIONS",
      );
      const intro = await h.req("POST", "/v1/token/introspect", { token: verifier, body: { token: t } });
      expect(intro.body).toMatchObject({ active: true, key_id: k.id, scope: "compute:read", org: org.orgId });
      await h.req("POST", `/v1/api-keys/${k.id}/disable`, { token: org.token });
      expect((await verify(h, verifier, { key: t })).body).toEqual({ valid: false, code: "DISABLED" });
      expect((await h.req("POST", "/v1/token/introspect", { token: verifier, body: { token: t } })).body).toEqual({
        active: false,
      });
      expect((await h.req("GET", "/v1/me", { token: t })).status).toBe(401);
    });

    it("exchanges a regenerated key's old secret during its grace period, and not after", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const regen = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, {
        token: org.token,
        body: { graceSeconds: 60 },
      });
      expect((await exchange({ grant_type: GRANT, apikey: k.secret })).status).toBe(200);
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61_000 });
      // The old secret is still cached from the exchange above: the cached path must refuse it.
      const misses = h.kw.services.verify.cache.stats.misses;
      const late = await exchange({ grant_type: GRANT, apikey: k.secret });
      expect(late.status).toBe(400);
      expect(late.body.error).toBe("invalid_grant");
      expect(h.kw.services.verify.cache.stats.misses).toBe(misses);
      expect((await exchange({ grant_type: GRANT, apikey: regen.body.secret })).status).toBe(200);
    });

    it("ends a token with the secret that bought it: at once on a regenerate, or when the grace period ends", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const buy = async (apikey: string, expires_in = 3600) => {
        const res = await exchange({ grant_type: GRANT, apikey, expires_in });
        expect(res.status).toBe(200);
        return res.body as { access_token: string; expires_in: number };
      };
      const works = async (t: string) => {
        const intro = await h.req("POST", "/v1/token/introspect", { token: verifier, body: { token: t } });
        const me = await h.req("GET", "/v1/me", { token: t });
        return { verify: (await verify(h, verifier, { key: t })).body.valid, active: intro.body.active, me: me.status };
      };
      const yes = { verify: true, active: true, me: 200 };
      const no = { verify: false, active: false, me: 401 };
      const old = await buy(k.secret);
      const regen = await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, {
        token: org.token,
        body: { graceSeconds: 60 },
      });
      expect(regen.status).toBe(200);
      expect(await works(old.access_token)).toEqual(yes);
      // Bought with the old secret in its grace period: it lives no longer than the grace.
      const late = await buy(k.secret);
      expect(late.expires_in).toBeLessThanOrEqual(60);
      const current = await buy(regen.body.secret);
      expect(current.expires_in).toBe(3600);
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61_000 });
      expect(await works(old.access_token)).toEqual(no);
      expect(await works(late.access_token)).toEqual(no);
      expect(await works(current.access_token)).toEqual(yes);
      // Regenerated without a grace period: the current secret's tokens stop with it.
      expect((await h.req("POST", `/v1/api-keys/${k.id}/regenerate`, { token: org.token, body: {} })).status).toBe(200);
      expect(await works(current.access_token)).toEqual(no);
    });

    it("keeps a token to the project its permissions were worked out in", async () => {
      const a = await mkProject(h, org.token, org.orgId, "a");
      const b = await mkProject(h, org.token, org.orgId, "b");
      // Rights in project a only; the key prefers a, so a request without a project is placed there.
      const sa = await mkServiceAccount(h, org.token, org.orgId, [{ roleId: "role_member", projectId: a }]);
      const k = await mkKey(h, org.token, org.orgId, {
        name: "in a",
        owner: { type: "service_account", id: sa },
        defaultProjectId: a,
      });
      const res = await exchange({ grant_type: GRANT, apikey: k.secret, scope: "compute:write" });
      expect(res.status).toBe(200);
      const t = res.body.access_token;
      // The key only prefers a: its token acts where the key does, org-wide.
      expect(decodeJwt(t).projects).toBeNull();
      // Said in the token, for offline checks to place a request naming no project as Keyward does.
      expect(decodeJwt(t).default_project).toBe(a);
      const write = (projectId?: string) => verify(h, verifier, { key: t, permissions: ["compute:write"], projectId });
      expect((await write(a)).body).toMatchObject({ valid: true, projectId: a });
      expect((await write()).body).toMatchObject({ valid: true, projectId: a });
      // Its rights in a are not carried into b, where the key holds none.
      expect((await write(b)).body).toEqual({ valid: false, code: "INSUFFICIENT_PERMISSIONS" });
      // Asked for a, it is kept to a.
      const kept = await exchange({ grant_type: GRANT, apikey: k.secret, scope: "compute:write", projectId: a });
      expect(decodeJwt(kept.body.access_token)).toMatchObject({ projects: [a], default_project: a });
      expect((await verify(h, verifier, { key: kept.body.access_token, projectId: b })).body).toEqual({
        valid: false,
        code: "PROJECT_NOT_ALLOWED",
      });
    });

    it("exchanges a key that prefers a project for a token that acts org-wide, as the key does", async () => {
      const p = await mkProject(h, org.token, org.orgId, "preferred");
      const q = await mkProject(h, org.token, org.orgId, "other");
      const k = await mkKey(h, org.token, org.orgId, { name: "admin", defaultProjectId: p });
      const t = (await exchange({ grant_type: GRANT, apikey: k.secret })).body.access_token;
      for (const credential of [k.secret, t]) {
        expect((await h.req("GET", `/v1/orgs/${org.orgId}/members`, { token: credential })).status).toBe(200);
        expect((await verify(h, verifier, { key: credential, projectId: q })).body).toMatchObject({
          valid: true,
          projectId: q,
        });
        expect((await verify(h, verifier, { key: credential })).body).toMatchObject({ valid: true, projectId: p });
      }
    });

    it("introspects a token's scope as its key now allows it, and lists a permission once", async () => {
      const k = await mkKey(h, org.token, org.orgId, {
        name: "ci",
        permissions: ["compute:read", "compute:write", "storage:read"],
      });
      const res = await exchange({
        grant_type: GRANT,
        apikey: k.secret,
        scope: "compute:read compute:write compute:read",
      });
      expect(res.body.scope).toBe("compute:read compute:write");
      const t = res.body.access_token;
      const intro = () => h.req("POST", "/v1/token/introspect", { token: verifier, body: { token: t } });
      expect((await intro()).body).toMatchObject({ active: true, scope: "compute:read compute:write" });
      const patch = await h.req("PATCH", `/v1/api-keys/${k.id}`, {
        token: org.token,
        body: { permissions: ["compute:read"] },
      });
      expect(patch.status).toBe(200);
      expect((await intro()).body).toMatchObject({ active: true, scope: "compute:read" });
    });

    it("introspects scope where the token may act, and an end no later than its key's or its secret's", async () => {
      const intro = async (token: string) =>
        (await h.req("POST", "/v1/token/introspect", { token: verifier, body: { token } })).body;
      const a = await mkProject(h, org.token, org.orgId, "a");
      const b = await mkProject(h, org.token, org.orgId, "b");
      const k = await mkKey(h, org.token, org.orgId, { name: "k", permissions: ["compute:read"] });
      const inA = (await exchange({ grant_type: GRANT, apikey: k.secret, projectId: a })).body.access_token;
      expect(await intro(inA)).toMatchObject({ active: true, scope: "compute:read" });
      // The key is kept away from the token's project: the token can do nothing, and says so.
      expect(
        (await h.req("PATCH", `/v1/api-keys/${k.id}`, { token: org.token, body: { allowedProjects: [b] } })).status,
      ).toBe(200);
      expect(await intro(inA)).toMatchObject({ active: true, scope: "" });
      // So can a token whose project was deleted (verify refuses it everywhere; it said compute:read).
      const c = await mkProject(h, org.token, org.orgId, "c");
      const k2 = await mkKey(h, org.token, org.orgId, { name: "k2", permissions: ["compute:read"] });
      const inC = (await exchange({ grant_type: GRANT, apikey: k2.secret, projectId: c })).body.access_token;
      expect(await intro(inC)).toMatchObject({ active: true, scope: "compute:read" });
      expect((await h.req("DELETE", `/v1/projects/${c}`, { token: org.token })).status).toBe(204);
      expect(await intro(inC)).toMatchObject({ active: true, scope: "" });
      // An hour's token; its key's expiry is then brought forward to a minute.
      const free = await mkKey(h, org.token, org.orgId, { name: "free" });
      const hour = (await exchange({ grant_type: GRANT, apikey: free.secret, expires_in: 3600 })).body.access_token;
      const soon = new Date(Date.now() + 60_000);
      const body = { expiresAt: soon.toISOString() };
      expect((await h.req("PATCH", `/v1/api-keys/${free.id}`, { token: org.token, body })).status).toBe(200);
      expect((await intro(hour)).exp * 1000).toBeLessThanOrEqual(soon.getTime());
      expect(Date.parse((await verify(h, verifier, { key: hour })).body.expiresAt)).toBe(soon.getTime());
      // An hour's token bought with a secret then regenerated with a minute's grace ends with it.
      const graced = await mkKey(h, org.token, org.orgId, { name: "graced" });
      const old = (await exchange({ grant_type: GRANT, apikey: graced.secret, expires_in: 3600 })).body.access_token;
      const regenerated = await h.req("POST", `/v1/api-keys/${graced.id}/regenerate`, {
        token: org.token,
        body: { graceSeconds: 60 },
      });
      expect(regenerated.status).toBe(200);
      const graceEnd = Date.now() + 60_000;
      expect((await intro(old)).exp * 1000).toBeLessThanOrEqual(graceEnd);
      expect(Date.parse((await verify(h, verifier, { key: old })).body.expiresAt)).toBeLessThanOrEqual(graceEnd);
    });

    it("counts a token's use on Keyward's own API as its key's, with its address", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "k" });
      const t = (await exchange({ grant_type: GRANT, apikey: k.secret }, "203.0.113.1")).body.access_token;
      expect((await h.req("GET", "/v1/me", { token: t, ip: "198.51.100.2" })).status).toBe(200);
      const usage = await h.req("GET", `/v1/api-keys/${k.id}/usage`, { token: org.token });
      expect(usage.body).toMatchObject({ lastUsedIp: "198.51.100.2", total: 2 });
    });

    it("expires", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const t = (await exchange({ grant_type: GRANT, apikey: k.secret, expires_in: 60 })).body.access_token;
      expect((await verify(h, verifier, { key: t })).body.valid).toBe(true);
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61_000 });
      expect((await verify(h, verifier, { key: t })).body).toEqual({ valid: false, code: "EXPIRED" });
    });

    it("keeps tokens in flight valid across a signing-key rotation", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const before = (await exchange({ grant_type: GRANT, apikey: k.secret })).body.access_token;
      const newKid = await h.kw.services.verify.tokens.signingKeys.rotate();
      const after = (await exchange({ grant_type: GRANT, apikey: k.secret })).body.access_token;
      expect(decodeProtectedHeader(after).kid).toBe(newKid);
      expect(decodeProtectedHeader(before).kid).not.toBe(newKid);
      const jwks = (await h.req("GET", "/.well-known/jwks.json")).body;
      expect(jwks.keys.map((j: { kid: string }) => j.kid)).toEqual([newKid, decodeProtectedHeader(before).kid]);
      expect((await verify(h, verifier, { key: before })).body.valid).toBe(true);
      // Once every token the old key could have signed has expired, it leaves the JWKS.
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 2 * 3_600_000 });
      const later = (await h.req("GET", "/.well-known/jwks.json")).body;
      expect(later.keys.map((j: { kid: string }) => j.kid)).toEqual([newKid]);
    });
  });

  describe("signing keys", () => {
    it("publishes one successor when many exchanges find the key due, and signs with it only once published ahead", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const first = decodeProtectedHeader(
        (await exchange({ grant_type: GRANT, apikey: k.secret })).body.access_token,
      ).kid;
      const kidsOf = async () => {
        const many = await Promise.all(
          Array.from({ length: 20 }, () => exchange({ grant_type: GRANT, apikey: k.secret })),
        );
        expect(many.map((r) => r.status)).toEqual(many.map(() => 200));
        return new Set(many.map((r) => decodeProtectedHeader(r.body.access_token).kid));
      };
      const published = async () =>
        (await h.req("GET", "/.well-known/jwks.json")).body.keys.map((j: { kid: string }) => j.kid);
      const t0 = Date.now();
      vi.useFakeTimers({ toFake: ["Date"], now: t0 + 31 * 86_400_000 }); // past the 30-day rotation
      // One successor, published at once, newest first; the current key still signs.
      expect(await kidsOf()).toEqual(new Set([first]));
      const jwks = await published();
      expect(jwks).toHaveLength(2);
      expect(jwks[1]).toBe(first);
      const next = jwks[0];
      // Published for longer than any node's table read (30 s), the JWKS's max-age (300 s) and
      // the clock skew (60 s): every verifier holds it before the first token it signs.
      vi.setSystemTime(t0 + 31 * 86_400_000 + 389_000);
      expect(await kidsOf()).toEqual(new Set([first]));
      vi.setSystemTime(t0 + 31 * 86_400_000 + 391_000);
      expect(await kidsOf()).toEqual(new Set([next]));
      // The superseded key is retired: still published while tokens it signed may live.
      expect(await published()).toEqual([next, first]);
      vi.setSystemTime(t0 + 31 * 86_400_000 + 391_000 + 3_661_000);
      expect(await published()).toEqual([next]);
      expect(await h.kw.db.kysely.selectFrom("signing_keys").select("kid").execute()).toHaveLength(2);
    });
  });

  describe("signing keys across nodes", () => {
    it("verifies at once a token signed by a key another node made just after this one read its table", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const issued = (await exchange({ grant_type: GRANT, apikey: k.secret })).body.access_token;
      // Another node on the same database (its own copy of the key table).
      const other = new SigningKeys({
        db: h.kw.db,
        pepper: "test-secret-test-secret-test-secret-0123456789",
        now: () => new Date(),
        logger: pino({ level: "silent" }),
      } as unknown as Deps);
      // This node has just read its table (a token naming a kid it did not know made it)…
      const mine = h.kw.services.verify.tokens.signingKeys;
      expect(await mine.publicKey("sk_unknown", Math.floor(Date.now() / 1000))).toBeNull();
      // …then the other node makes a key and signs with it at once (an operator's rotation).
      const kid = await other.rotate();
      const { key } = await other.signer();
      const token = await new SignJWT({ ...decodeJwt(issued), iat: Math.floor(Date.now() / 1000) })
        .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: "JWT" })
        .sign(key);
      // Not refused as unknown within the 250 ms this node waits between reads of its table.
      expect((await verify(h, verifier, { key: token })).body).toMatchObject({ valid: true, keyId: k.id });
      // A token naming an unknown kid and issued before the last read is refused without one.
      const old = await new SignJWT({ ...decodeJwt(issued), iat: Math.floor(Date.now() / 1000) - 60 })
        .setProtectedHeader({ alg: SIGNING_ALG, kid: "sk_madeup", typ: "JWT" })
        .sign(key);
      expect((await verify(h, verifier, { key: old })).body.valid).toBe(false);
    });
  });

  describe("as OAuth clients and JWKS fetchers expect it", () => {
    it("issues no token already expired: a key ending within the second is invalid_grant", async () => {
      // The key ends 300 ms into a second; 200 ms before that, a token's whole seconds would end now.
      const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 5_300).toISOString();
      const k = await mkKey(h, org.token, org.orgId, { name: "soon", expiresAt });
      vi.useFakeTimers({ toFake: ["Date"], now: Date.parse(expiresAt) - 200 });
      const res = await h.req("POST", "/v1/token", { body: { grant_type: GRANT, apikey: k.secret } });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("invalid_grant");
    });

    it("takes form parameters sent without a value as omitted (RFC 6749 §3.1)", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci", permissions: ["compute:read", "storage:read"] });
      const base = `grant_type=${encodeURIComponent(GRANT)}&apikey=${k.secret}`;
      const scope = await form(`${base}&scope=`);
      expect([scope.statusCode, scope.json().scope]).toEqual([200, "compute:read storage:read"]);
      for (const empty of ["projectId=", "expires_in="])
        expect((await form(`${base}&${empty}`)).statusCode, empty).toBe(200);
      // Sent twice is still refused, a value or not.
      expect((await form(`${base}&scope=&scope=`)).json().error).toBe("invalid_request");
    });

    it("reads no caller credential on the exchange and the JWKS: a fetcher's unrelated header changes nothing", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const headers = { authorization: "Bearer stale-or-unrelated" };
      const exchanged = await form(`grant_type=${encodeURIComponent(GRANT)}&apikey=${k.secret}`, headers);
      expect(exchanged.statusCode).toBe(200);
      const jwks = await h.app.inject({ method: "GET", url: "/.well-known/jwks.json", headers });
      expect(jwks.statusCode).toBe(200);
    });

    it("says how to authenticate on a 401 (WWW-Authenticate, RFC 6750 §3), introspection included", async () => {
      const res = await h.app.inject({
        method: "POST",
        url: "/v1/token/introspect",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        payload: "token=abc",
      });
      expect(res.statusCode).toBe(401);
      expect(res.headers["www-authenticate"]).toBe('Bearer realm="keyward"');
      const bad = await h.req("GET", "/v1/me", { token: "kw_not-a-key" });
      expect(bad.status).toBe(401);
      expect(bad.headers["www-authenticate"]).toBe('Bearer realm="keyward"');
    });
  });

  describe("errors (RFC 6749 §5.2)", () => {
    it("answers OAuth errors with 400 {error, error_description}", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci", permissions: ["compute:read"] });
      const ro = await mkKey(h, org.token, org.orgId, { name: "ro", readOnly: true });
      const cases: [Record<string, unknown>, string][] = [
        [{ grant_type: "password", apikey: k.secret }, "unsupported_grant_type"],
        [{ grant_type: GRANT }, "invalid_request"],
        [{ grant_type: GRANT, apikey: k.secret, extra: 1 }, "invalid_request"],
        [{ grant_type: GRANT, apikey: "kw_nope" }, "invalid_grant"],
        [
          { grant_type: GRANT, apikey: `${k.secret.slice(0, -1)}${k.secret.endsWith("a") ? "b" : "a"}` },
          "invalid_grant",
        ],
        [{ grant_type: GRANT, apikey: k.secret, scope: "storage:read" }, "invalid_scope"],
        [{ grant_type: GRANT, apikey: k.secret, scope: "compute:*" }, "invalid_scope"],
        [{ grant_type: GRANT, apikey: ro.secret, scope: "compute:write" }, "invalid_scope"],
        [{ grant_type: GRANT, apikey: k.secret, expires_in: 3601 }, "invalid_request"],
        [{ grant_type: GRANT, apikey: k.secret, projectId: "nope" }, "invalid_request"],
      ];
      for (const [body, error] of cases) {
        const res = await exchange(body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error, JSON.stringify(body)).toBe(error);
        expect(typeof res.body.error_description).toBe("string");
      }
    });

    it("refuses duplicated form parameters, other content types and huge bodies, never 500", async () => {
      const dup = await h.app.inject({
        method: "POST",
        url: "/v1/token",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        payload: `grant_type=${encodeURIComponent(GRANT)}&apikey=a&apikey=b`,
      });
      expect(dup.statusCode).toBe(400);
      expect(dup.json()).toEqual({
        error: "invalid_request",
        error_description: "Parameter apikey is sent more than once",
      });
      for (const payload of ["{not json", ""]) {
        const bad = await h.app.inject({
          method: "POST",
          url: "/v1/token",
          headers: { "content-type": "application/json" },
          payload,
        });
        expect(bad.statusCode, payload).toBe(400);
        expect(bad.json().error, payload).toBe("invalid_request");
      }
      const text = await h.app.inject({
        method: "POST",
        url: "/v1/token",
        headers: { "content-type": "text/plain" },
        payload: "x",
      });
      expect(text.statusCode).toBe(415);
      expect(text.headers["content-type"]).toContain("application/problem+json");
      const huge = await h.app.inject({
        method: "POST",
        url: "/v1/token",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        payload: `apikey=${"x".repeat(70_000)}`,
      });
      expect(huge.statusCode).toBe(413);
    });

    it("introspection needs iam:apikeys:verify", async () => {
      const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
      const t = (await exchange({ grant_type: GRANT, apikey: k.secret })).body.access_token;
      expect((await h.req("POST", "/v1/token/introspect", { body: { token: t } })).status).toBe(401);
      expect((await h.req("POST", "/v1/token/introspect", { token: k.secret, body: { token: t } })).status).toBe(403);
      expect(
        (await h.req("POST", "/v1/token/introspect", { token: verifier, body: { token: "garbage" } })).body,
      ).toEqual({ active: false });
    });
  });
});

describe("tokens of keys with many permissions", () => {
  // A platform's catalog: `services` services × 5 actions.
  const catalogOf = (services: number) =>
    Array.from({ length: services }, (_, i) => `service${String(i).padStart(3, "0")}`).flatMap((s) =>
      ["instances:read", "instances:write", "instances:delete", "volumes:read", "volumes:write"].map((a) => ({
        name: `${s}:${a}`,
        description: a,
      })),
    );
  let h: Harness;
  afterEach(async () => h?.close());

  it("issues a default-scope token that Keyward itself takes: as a bearer, to /v1/verify and to introspection", async () => {
    h = await Harness.init("sqlite", {}, (c) => {
      c.permissions = [...c.permissions, ...catalogOf(30)];
    });
    const org = await h.newOrgWithOwner("big");
    const verifier = await verifierKey(h);
    // A key without a permission list carries all of its owner's: 150 product permissions and iam:*.
    const k = await mkKey(h, org.token, org.orgId, { name: "all" });
    const res = await h.req("POST", "/v1/token", { body: { grant_type: GRANT, apikey: k.secret } });
    expect(res.status).toBe(200);
    const t = res.body.access_token as string;
    expect(t.length).toBeGreaterThan(4096); // past the limit Keyward had
    expect((await verify(h, verifier, { key: t })).body.valid).toBe(true);
    expect((await h.req("POST", "/v1/token/introspect", { token: verifier, body: { token: t } })).body.active).toBe(
      true,
    );
    expect((await h.req("GET", "/v1/me", { token: t })).status).toBe(200);
  });

  it("holds a bounded amount of memory however many tokens of a key are presented", async () => {
    h = await Harness.init("sqlite", {}, (c) => {
      c.permissions = [...c.permissions, ...catalogOf(16)]; // 80 product permissions
    });
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const org = await h.newOrgWithOwner("mint");
    const verifier = await verifierKey(h);
    const k = await mkKey(h, org.token, org.orgId, { name: "minter" });
    const mint = async () =>
      (await h.req("POST", "/v1/token", { body: { grant_type: GRANT, apikey: k.secret } })).body.access_token as string;
    const first = await mint();
    expect((await verify(h, verifier, { key: first })).body.valid).toBe(true);
    const before = heap();
    const n = 3000;
    let chars = 0;
    for (let i = 0; i < n; i++) {
      const t = await mint(); // each one new: its own jti
      chars += t.length;
      expect((await verify(h, verifier, { key: t })).body.valid).toBe(true);
    }
    const grown = heap() - before;
    // About 13 MB of token text was presented; the checked-token cache keeps at most 8 million
    // characters of it, and tokens of one key share their narrowed key. (Each token held its
    // text, its claims and its own narrowed key: 11.5 KB a token.)
    expect(chars).toBeGreaterThan(9_000_000);
    expect(grown).toBeLessThan(14_000_000);
  });

  it("counts a token checked by a burst of requests at once once, so the bound holds", async () => {
    h = await Harness.init("sqlite");
    const org = await h.newOrgWithOwner("burst");
    const k = await mkKey(h, org.token, org.orgId, { name: "ci" });
    const t = (await h.req("POST", "/v1/token", { body: { grant_type: GRANT, apikey: k.secret } })).body.access_token;
    const tokens = h.kw.services.verify.tokens as unknown as {
      check(t: string): Promise<{ ok: boolean }>;
      checked: Map<string, unknown>;
      checkedChars: number;
    };
    const checks = await Promise.all(Array.from({ length: 8 }, () => tokens.check(t)));
    expect(checks.every((c) => c.ok)).toBe(true);
    expect([tokens.checked.size, tokens.checkedChars]).toEqual([1, t.length]);
  });

  it("refuses at exchange a token too long to be taken back, and issues the narrowed one", async () => {
    h = await Harness.init("sqlite", {}, (c) => {
      c.permissions = [...c.permissions, ...catalogOf(100)];
    });
    const org = await h.newOrgWithOwner("huge");
    const k = await mkKey(h, org.token, org.orgId, { name: "all" });
    const res = await h.req("POST", "/v1/token", { body: { grant_type: GRANT, apikey: k.secret } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_scope");
    expect(res.body.error_description).toMatch(/narrow it with scope/);
    const narrowed = await h.req("POST", "/v1/token", {
      body: { grant_type: GRANT, apikey: k.secret, scope: "service000:instances:read service099:volumes:write" },
    });
    expect(narrowed.status).toBe(200);
    expect((await h.req("GET", "/v1/me", { token: narrowed.body.access_token })).status).toBe(200);
  });
});
