/**
 * Offline token checks against /.well-known/jwks.json (tokens: { offline: true }), with Keyward
 * in-process so its signing key can be rotated as it is every 30 days.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createKeyward } from "../../server/src/compose.js";
import { loadConfig } from "../../server/src/config.js";
import { bootstrap } from "../../server/src/services/bootstrap.js";
import { type KeywardClient, authenticateRequest, createKeywardClient, createVerifier, unwrap } from "../src/index.js";
import { JWKS_RENEW_MS, JWKS_STALE_MS } from "../src/signing-keys.js";
import { REPO_ROOT } from "./server.js";

let kw: Awaited<ReturnType<typeof createKeyward>>;
let url: string;
let client: KeywardClient;
let orgId: string;
let dataDir: string;
let session: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "keyward-sdk-offline-"));
  const config = loadConfig({
    KEYWARD_DATA_DIR: dataDir,
    KEYWARD_ADMIN_EMAIL: "owner@example.com",
    KEYWARD_ADMIN_PASSWORD: "owner-password-123",
    KEYWARD_SECRET: "test-secret-0123456789-0123456789-abcdef",
    KEYWARD_CONFIG: path.join(REPO_ROOT, "packages/server/test/fixtures/keyward.config.json"),
    KEYWARD_PORT: "0",
    KEYWARD_HOST: "127.0.0.1",
  });
  kw = await createKeyward(config, { logger: false });
  await bootstrap(kw.db, config, new Date());
  await kw.app.listen({ port: 0, host: "127.0.0.1" });
  url = `http://127.0.0.1:${(kw.app.server.address() as AddressInfo).port}`;
  const login = await fetch(`${url}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "owner@example.com", password: "owner-password-123" }),
  });
  session = ((await login.json()) as { token: string }).token;
  client = createKeywardClient({ baseUrl: url, apiKey: session });
  orgId = (await unwrap(client.GET("/v1/orgs"))).items[0].id;
});
afterAll(async () => {
  await kw?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function tokenOf(): Promise<string> {
  const { secret } = await unwrap(
    client.POST("/v1/orgs/{orgId}/api-keys", {
      params: { path: { orgId } },
      body: { name: `t${Math.random()}`, permissions: ["compute:read"] } as never,
    }),
  );
  const res = await fetch(`${url}/v1/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: secret }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

const isJwks = (input: RequestInfo | URL) =>
  String(input instanceof Request ? input.url : input).endsWith("/jwks.json");

describe("offline tokens", () => {
  it("accepts a token signed with a key Keyward rotated to after the JWKS was fetched", async () => {
    const verifier = createVerifier({ baseUrl: url, tokens: { offline: true } });
    const before = await tokenOf();
    expect(await verifier.verify(before)).toMatchObject({ valid: true }); // JWKS fetched now
    await kw.services.verify.tokens.signingKeys.rotate(); // the 30-day rotation
    const after = await tokenOf(); // signed with the new kid, published in the JWKS
    const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const kid = JSON.parse(Buffer.from(after.split(".")[0], "base64url").toString()).kid;
    expect(jwks.keys.map((k) => k.kid)).toContain(kid);
    // Signed with a key published after the verifier's last fetch: fetched again at once, not
    // refused (INVALID_TOKEN) for the 30 s of jose's cooldown.
    expect(await verifier.verify(after)).toMatchObject({ valid: true });
    const out = await authenticateRequest(verifier, { headers: { authorization: `Bearer ${after}` } });
    expect(out.ok ? 200 : out.refusal.status).toBe(200);
  });

  it("accepts every request of a burst carrying a token with a kid rotated to since the last fetch", async () => {
    const verifier = createVerifier({ baseUrl: url, tokens: { offline: true } });
    expect(await verifier.verify(await tokenOf())).toMatchObject({ valid: true }); // the JWKS fetched
    await kw.services.verify.tokens.signingKeys.rotate();
    const after = await tokenOf();
    // Together: one fetches the new set; the others, arriving meanwhile, were refused (401).
    const outs = await Promise.all(
      Array.from({ length: 5 }, () =>
        authenticateRequest(verifier, { method: "GET", headers: { authorization: `Bearer ${after}` } }),
      ),
    );
    expect(outs.map((o) => (o.ok ? 200 : `${o.refusal.status} ${o.refusal.body.reason}`))).toEqual([
      200, 200, 200, 200, 200,
    ]);
  });

  it("refuses a token kept to a project for a request naming none, as Keyward does", async () => {
    const project = await unwrap(
      client.POST("/v1/orgs/{orgId}/projects", { params: { path: { orgId } }, body: { name: "only-p1" } }),
    );
    const { secret } = await unwrap(
      client.POST("/v1/orgs/{orgId}/api-keys", {
        params: { path: { orgId } },
        body: { name: "one project", permissions: ["compute:read", "compute:write"] } as never,
      }),
    );
    const res = await fetch(`${url}/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "urn:keyward:params:oauth:grant-type:apikey",
        apikey: secret,
        projectId: project.id,
      }),
    });
    const token = ((await res.json()) as { access_token: string }).access_token;
    const answer = async (verifier: ReturnType<typeof createVerifier>, projectId?: string) => {
      const out = await authenticateRequest(
        verifier,
        { method: "POST", headers: { authorization: `Bearer ${token}` } },
        { permissions: ["compute:write"], ...(projectId ? { projectId: () => projectId } : {}) },
      );
      return out.ok ? "200" : `${out.refusal.status} ${out.refusal.body.reason}`;
    };
    const online = createVerifier({ baseUrl: url, rootKey: session, cacheTtlMs: 0 });
    const offline = createVerifier({ baseUrl: url, tokens: { offline: true } });
    // An org-wide request (it names no project): refused both ways; in the project, allowed both ways.
    expect(await answer(online)).toBe("403 PROJECT_NOT_ALLOWED");
    expect(await answer(offline)).toBe("403 PROJECT_NOT_ALLOWED");
    expect(await answer(online, project.id)).toBe("200");
    expect(await answer(offline, project.id)).toBe("200");
    // A key that prefers the project: a request naming none is placed there, both ways.
    const prefers = await unwrap(
      client.POST("/v1/orgs/{orgId}/api-keys", {
        params: { path: { orgId } },
        body: { name: "prefers p1", permissions: ["compute:write"], defaultProjectId: project.id } as never,
      }),
    );
    const placed = await fetch(`${url}/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: prefers.secret }),
    });
    const placedToken = ((await placed.json()) as { access_token: string }).access_token;
    for (const verifier of [online, offline]) {
      const out = await authenticateRequest(
        verifier,
        { method: "POST", headers: { authorization: `Bearer ${placedToken}` } },
        { permissions: ["compute:write"] },
      );
      expect(out.ok && out.key.projectId).toBe(project.id);
    }
  });

  it("answers as Keyward does for a read-only token asked for a write, and for the project a key prefers", async () => {
    const exchange = async (apikey: string) => {
      const res = await fetch(`${url}/v1/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey }),
      });
      return ((await res.json()) as { access_token: string }).access_token;
    };
    const mk = async (body: Record<string, unknown>) =>
      (
        await unwrap(
          client.POST("/v1/orgs/{orgId}/api-keys", {
            params: { path: { orgId } },
            body: { name: `k${Math.random()}`, ...body } as never,
          }),
        )
      ).secret;
    const project = await unwrap(
      client.POST("/v1/orgs/{orgId}/projects", { params: { path: { orgId } }, body: { name: "preferred" } }),
    );
    const readOnly = await exchange(await mk({ permissions: ["compute:read"], readOnly: true }));
    const prefers = await exchange(await mk({ permissions: ["compute:read"], defaultProjectId: project.id }));
    const online = createVerifier({ baseUrl: url, rootKey: session, cacheTtlMs: 0 });
    const offline = createVerifier({ baseUrl: url, tokens: { offline: true } });
    const cases: [string, Parameters<typeof online.verify>[1]][] = [
      [readOnly, { method: "GET", permissions: ["compute:write"] }],
      [readOnly, { method: "GET", permissions: ["compute:read"] }],
      [prefers, { permissions: ["compute:read"], projectId: project.id }],
      [prefers, { permissions: ["compute:read"] }],
    ];
    for (const [token, req] of cases) {
      const a = await online.verify(token, req);
      const b = await offline.verify(token, req);
      expect(b.valid ? "ok" : b.code, JSON.stringify(req)).toBe(a.valid ? "ok" : a.code);
    }
  });

  it("keeps a token to its key's IP allow list, as Keyward does", async () => {
    // The exchange comes from 127.0.0.1, which the list admits too.
    const { secret } = await unwrap(
      client.POST("/v1/orgs/{orgId}/api-keys", {
        params: { path: { orgId } },
        body: { name: "office", permissions: ["compute:read"], allowedIps: ["127.0.0.1", "203.0.113.0/24"] } as never,
      }),
    );
    const res = await fetch(`${url}/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: secret }),
    });
    const token = ((await res.json()) as { access_token: string }).access_token;
    const online = createVerifier({ baseUrl: url, rootKey: session, cacheTtlMs: 0 });
    const offline = createVerifier({ baseUrl: url, tokens: { offline: true } });
    for (const [ip, expected] of [
      ["203.0.113.9", "ok"],
      ["::ffff:203.0.113.9", "ok"], // what a dual-stack server reports for an IPv4 client
      ["198.51.100.1", "IP_NOT_ALLOWED"],
      ["2001:db8::1", "IP_NOT_ALLOWED"],
      [undefined, "IP_NOT_ALLOWED"], // an allow list admits no unknown address
    ] as const) {
      for (const verifier of [online, offline]) {
        const r = await verifier.verify(token, { permissions: ["compute:read"], ...(ip ? { ip } : {}) });
        expect(r.valid ? "ok" : r.code, `${ip} ${verifier === online ? "online" : "offline"}`).toBe(expected);
      }
    }
  });

  it("does not fetch the JWKS once per request while Keyward cannot serve it", async () => {
    const token = await tokenOf();
    let jwksFetches = 0;
    const down: typeof fetch = async (input, init) => {
      if (isJwks(input)) {
        jwksFetches++;
        return new Response("unavailable", { status: 503, headers: { "retry-after": "5" } });
      }
      return fetch(input, init);
    };
    const verifier = createVerifier({ baseUrl: url, tokens: { offline: true }, fetch: down });
    for (let i = 0; i < 50; i++) {
      const out = await authenticateRequest(verifier, { headers: { authorization: `Bearer ${token}` } });
      expect(out.ok ? 200 : out.refusal.status).toBe(503); // fails closed: right
    }
    // 50 requests in well under a second: the failing endpoint is asked again only after a pause.
    expect(jwksFetches).toBeLessThanOrEqual(2);
  });

  describe("while Keyward is down for longer than the JWKS's renewal period", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("keeps checking tokens with the keys it holds, renews them in the background, and gives up after a day", async () => {
      const token = await tokenOf();
      let up = true;
      let jwksFetches = 0;
      const flaky: typeof fetch = async (input, init) => {
        if (isJwks(input)) {
          jwksFetches++;
          if (!up) throw new TypeError("fetch failed: connect ECONNREFUSED");
        }
        return fetch(input, init);
      };
      const verifier = createVerifier({ baseUrl: url, tokens: { offline: true }, fetch: flaky });
      expect(await verifier.verify(token)).toMatchObject({ valid: true });
      expect(jwksFetches).toBe(1);

      // Keyward goes down; 11 minutes pass (the token lasts 15).
      up = false;
      const start = Date.now();
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(start + JWKS_RENEW_MS + 60_000);
      // Answered from the keys held; a renewal was tried, and failed, behind the answer.
      expect(await verifier.verify(token)).toMatchObject({ valid: true });
      const out = await authenticateRequest(verifier, { headers: { authorization: `Bearer ${token}` } });
      expect(out.ok ? 200 : out.refusal.status).toBe(200);
      expect(jwksFetches).toBe(2);

      // Back up: the next renewal succeeds (the failed one is retried after 2 s, not per request).
      up = true;
      vi.setSystemTime(start + JWKS_RENEW_MS + 63_000);
      expect(await verifier.verify(token)).toMatchObject({ valid: true });
      await vi.waitFor(() => expect(jwksFetches).toBe(3));
      await new Promise((r) => setTimeout(r, 50));
      expect(await verifier.verify(token)).toMatchObject({ valid: true });
      expect(jwksFetches).toBe(3); // renewed: no fetch per request

      // Down again for a whole day since the last fetch: the keys held are too old to trust.
      up = false;
      vi.setSystemTime(start + JWKS_RENEW_MS + 63_000 + JWKS_STALE_MS + 1_000);
      await expect(verifier.verify(token)).rejects.toThrow();
    });
  });
});
