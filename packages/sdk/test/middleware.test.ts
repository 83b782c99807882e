import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type KeywardClient,
  type VerifiedKey,
  Verifier,
  authenticateRequest,
  createKeywardClient,
  createVerifier,
  keywardExpress,
  keywardFastify,
  keywardNode,
  unwrap,
} from "../src/index.js";
import { type TestServer, login, startServer } from "./server.js";

let server: TestServer;
let kw: KeywardClient;
let orgId: string;
let rootKey: string;
/** Counts calls to POST /v1/verify made by verifiers built with `countingFetch`. */
let verifyCalls = 0;
const countingFetch: typeof fetch = (input, init) => {
  if (String(input instanceof Request ? input.url : input).endsWith("/v1/verify")) verifyCalls++;
  return fetch(input, init);
};

async function newKey(body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const res = await unwrap(kw.POST("/v1/orgs/{orgId}/api-keys", { params: { path: { orgId } }, body: body as never }));
  return { id: res.apiKey.id, secret: res.secret };
}

const listen = (s: http.Server) =>
  new Promise<string>((resolve) =>
    s.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)),
  );

beforeAll(async () => {
  server = await startServer();
  kw = createKeywardClient({ baseUrl: server.url, apiKey: await login(server) });
  const orgs = await unwrap(kw.GET("/v1/orgs"));
  orgId = orgs.items[0].id;
  // The platform service's credential, as the README says: a key of a service account in the
  // operator org whose role holds iam:apikeys:verify.
  const role = await unwrap(
    kw.POST("/v1/orgs/{orgId}/roles", {
      params: { path: { orgId } },
      body: { name: "verifier", permissions: ["iam:apikeys:verify"] },
    }),
  );
  const sa = await unwrap(
    kw.POST("/v1/orgs/{orgId}/service-accounts", {
      params: { path: { orgId } },
      body: { name: "edge gateway", roles: [{ roleId: role.id }] },
    }),
  );
  rootKey = (await newKey({ name: "verifier", owner: { type: "service_account", id: sa.id } })).secret;
});
afterAll(async () => server?.stop());

describe("Verifier", () => {
  it("verifies a key remotely and caches the positive answer", async () => {
    const key = await newKey({ name: "reader", permissions: ["compute:read"] });
    const verifier = createVerifier({ baseUrl: server.url, rootKey, fetch: countingFetch });
    verifyCalls = 0;
    const first = await verifier.verify(key.secret, { permissions: ["compute:read"] });
    expect(first).toMatchObject({ valid: true, keyId: key.id, orgId, source: "api" });
    const again = await verifier.verify(key.secret, { permissions: ["compute:read"] });
    expect(again).toEqual(first);
    expect(verifyCalls).toBe(1);
    // A different question is a different cache entry; refusals are not cached.
    expect(await verifier.verify(key.secret, { permissions: ["compute:write"] })).toEqual({
      valid: false,
      code: "INSUFFICIENT_PERMISSIONS",
    });
    await verifier.verify(key.secret, { permissions: ["compute:write"] });
    expect(verifyCalls).toBe(3);
  });

  it("does not cache when the TTL is 0, and freezes its answers all the same", async () => {
    const key = await newKey({ name: "nocache" });
    const verifier = createVerifier({ baseUrl: server.url, rootKey, cacheTtlMs: 0, fetch: countingFetch });
    verifyCalls = 0;
    await verifier.verify(key.secret);
    const second = await verifier.verify(key.secret);
    expect(verifyCalls).toBe(2);
    expect(second.valid && Object.isFrozen(second) && Object.isFrozen(second.permissions)).toBe(true);
  });

  it("asks Keyward once for a burst of the same question, and shares one permission list", async () => {
    const key = await newKey({ name: "burst", permissions: ["compute:read"] });
    const verifier = createVerifier({ baseUrl: server.url, rootKey, fetch: countingFetch });
    verifyCalls = 0;
    const burst = await Promise.all(
      Array.from({ length: 20 }, () =>
        verifier.verify(key.secret, { permissions: ["compute:read"], ip: "203.0.113.9" }),
      ),
    );
    expect(burst.every((r) => r.valid)).toBe(true);
    expect(verifyCalls).toBe(1);
    // Another client's answer is its own entry, holding the same frozen permission list.
    const other = await verifier.verify(key.secret, { permissions: ["compute:read"], ip: "203.0.113.10" });
    expect(verifyCalls).toBe(2);
    expect(other.valid && burst[0].valid && other.permissions === burst[0].permissions).toBe(true);
    // A refusal is shared by the burst that asked it.
    verifyCalls = 0;
    const refused = await Promise.all(
      Array.from({ length: 5 }, () => verifier.verify(key.secret, { permissions: ["compute:write"] })),
    );
    expect(refused.every((r) => !r.valid && r.code === "INSUFFICIENT_PERMISSIONS")).toBe(true);
    expect(verifyCalls).toBe(1);
    // A rate-limited key's answers are never shared: each use is Keyward's to count. Once an
    // answer said so, its requests ask at once rather than wait on another's call.
    const limited = await newKey({ name: "limited burst", ratelimit: { limit: 100, windowSeconds: 60 } });
    let inFlight = 0;
    let most = 0;
    const concurrent: typeof fetch = async (input, init) => {
      most = Math.max(most, ++inFlight);
      try {
        return await countingFetch(input, init);
      } finally {
        inFlight--;
      }
    };
    const limitedVerifier = createVerifier({ baseUrl: server.url, rootKey, fetch: concurrent });
    verifyCalls = 0;
    await Promise.all(Array.from({ length: 5 }, () => limitedVerifier.verify(limited.secret)));
    expect(verifyCalls).toBe(5);
    most = 0;
    await Promise.all(Array.from({ length: 5 }, () => limitedVerifier.verify(limited.secret)));
    expect(verifyCalls).toBe(10);
    expect(most).toBe(5);
  });

  it("reads the client address as Keyward does when called directly, a proxy's port dropped", async () => {
    const pinned = await newKey({ name: "pinned direct", allowedIps: ["203.0.113.7"] });
    const verifier = createVerifier({ baseUrl: server.url, rootKey, cacheTtlMs: 0 });
    expect((await verifier.verify(pinned.secret, { ip: "203.0.113.7:50312" })).valid).toBe(true);
    expect(await verifier.verify(pinned.secret, { ip: "unknown" })).toEqual({ valid: false, code: "IP_NOT_ALLOWED" });
    const anywhere = await newKey({ name: "anywhere direct" });
    expect((await verifier.verify(anywhere.secret, { ip: "unknown" })).valid).toBe(true);
  });

  it("keeps an answer for cacheTtlMs from when it asked, and none asked before clearCache()", async () => {
    const key = await newKey({ name: "ttl" });
    // Keyward's answer arrives 300 ms after it decided (a loaded Keyward, a slow network).
    const slowFetch: typeof fetch = async (input, init) => {
      const res = await countingFetch(input, init);
      await new Promise((r) => setTimeout(r, 300));
      return res;
    };
    const verifier = createVerifier({ baseUrl: server.url, rootKey, cacheTtlMs: 500, fetch: slowFetch });
    verifyCalls = 0;
    const asked = Date.now();
    await verifier.verify(key.secret);
    await new Promise((r) => setTimeout(r, Math.max(0, asked + 550 - Date.now())));
    await verifier.verify(key.secret); // 550 ms after asking: asked again
    expect(verifyCalls).toBe(2);
    // Cleared while a question was on its way: its answer is not kept.
    const pending = verifier.verify(key.secret, { method: "GET" });
    verifier.clearCache();
    expect((await pending).valid).toBe(true);
    await verifier.verify(key.secret, { method: "GET" });
    expect(verifyCalls).toBe(4);
  });

  it("keeps cacheMax a bound when it is not a number, and none when it is Infinity", async () => {
    const key = await newKey({ name: "bounded" });
    const bound = (cacheMax: number) =>
      (createVerifier({ baseUrl: server.url, rootKey, cacheMax }) as unknown as { cacheMax: number }).cacheMax;
    expect(bound(Number(undefined))).toBe(10_000); // NaN, from an unset variable: the default
    expect(bound(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    expect(bound(0)).toBe(0);
    const verifier = createVerifier({
      baseUrl: server.url,
      rootKey,
      cacheMax: Number(undefined),
      fetch: countingFetch,
    });
    verifyCalls = 0;
    await verifier.verify(key.secret);
    await verifier.verify(key.secret);
    expect(verifyCalls).toBe(1);
  });

  it("shares a burst's failure and its frozen answer, cleared or not", async () => {
    const silent = net.createServer(() => {}); // accepts, never answers
    const url = await listen(silent as unknown as http.Server);
    try {
      let calls = 0;
      const counting: typeof fetch = (input, init) => {
        calls++;
        return fetch(input, init);
      };
      const hung = createVerifier({ baseUrl: url, rootKey, timeoutMs: 300, fetch: counting });
      const burst = await Promise.allSettled(Array.from({ length: 5 }, () => hung.verify("kw_any")));
      expect(burst.every((r) => r.status === "rejected")).toBe(true);
      expect(calls).toBe(1); // the waiters did not each ask again, and wait out a timeout of their own
    } finally {
      silent.close();
    }
    const key = await newKey({ name: "shared", permissions: ["compute:read"] });
    const verifier = createVerifier({ baseUrl: server.url, rootKey });
    const a = verifier.verify(key.secret);
    const b = verifier.verify(key.secret);
    verifier.clearCache();
    const [ra, rb] = await Promise.all([a, b]);
    expect(rb).toBe(ra);
    expect(Object.isFrozen(rb) && rb.valid && Object.isFrozen(rb.permissions)).toBe(true);
  });

  it("answers NOT_FOUND / MALFORMED for bad keys", async () => {
    const verifier = new Verifier({ baseUrl: server.url, rootKey });
    expect((await verifier.verify("kw_definitelynotarealkeyatallxxxxxxxxxxxx")).valid).toBe(false);
    expect(await verifier.verify("garbage")).toMatchObject({ valid: false, code: "MALFORMED" });
  });

  it("throws a KeywardError when its own credential may not verify", async () => {
    const plain = await newKey({ name: "no verify right", permissions: ["compute:read"] });
    const verifier = createVerifier({ baseUrl: server.url, rootKey: plain.secret });
    await expect(verifier.verify(plain.secret)).rejects.toMatchObject({ name: "KeywardError", status: 403 });
  });

  /** An exchanged token of `secret`, optionally narrowed to a project. */
  async function exchange(secret: string, projectId?: string): Promise<string> {
    const res = await fetch(`${server.url}/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "urn:keyward:params:oauth:grant-type:apikey",
        apikey: secret,
        ...(projectId ? { projectId } : {}),
      }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  it("verifies exchanged tokens through Keyward by default, so a disabled key's token stops", async () => {
    const key = await newKey({ name: "token online", permissions: ["compute:read"] });
    const token = await exchange(key.secret);
    const verifier = createVerifier({ baseUrl: server.url, rootKey, cacheTtlMs: 0, fetch: countingFetch });
    verifyCalls = 0;
    expect(await verifier.verify(token, { permissions: ["compute:read"] })).toMatchObject({
      valid: true,
      keyId: key.id,
      source: "api",
    });
    expect(verifyCalls).toBe(1);
    await unwrap(kw.POST("/v1/api-keys/{keyId}/disable", { params: { path: { keyId: key.id } } }));
    expect(await verifier.verify(token)).toEqual({ valid: false, code: "DISABLED" });
  });

  it("checks exchanged tokens offline against the JWKS when asked, within what a token says", async () => {
    const key = await newKey({ name: "token source", permissions: ["compute:read", "storage:read"] });
    const token = await exchange(key.secret);
    const verifier = createVerifier({ baseUrl: server.url, tokens: { offline: true }, fetch: countingFetch });
    verifyCalls = 0;
    const ok = await verifier.verify(token, { permissions: ["compute:read"] });
    expect(ok).toMatchObject({ valid: true, keyId: key.id, orgId, source: "token", projectId: null });
    expect((ok as VerifiedKey).permissions).toEqual(["compute:read", "storage:read"]);
    // Frozen like every answer (offline ones are not cached, and are frozen all the same).
    expect(Object.isFrozen(ok) && Object.isFrozen((ok as VerifiedKey).permissions)).toBe(true);
    expect(await verifier.verify(token, { permissions: ["compute:write"] })).toEqual({
      valid: false,
      code: "INSUFFICIENT_PERMISSIONS",
    });
    // An org-wide token names no project: offline, which org a project belongs to is unknown.
    expect(await verifier.verify(token, { projectId: "prj_ofanotherorg" })).toEqual({
      valid: false,
      code: "PROJECT_NOT_ALLOWED",
    });
    // A token for one project acts there, and nowhere else: not org-wide either (as Keyward decides).
    const project = await unwrap(
      kw.POST("/v1/orgs/{orgId}/projects", { params: { path: { orgId } }, body: { name: "tok" } }),
    );
    const inProject = await exchange(key.secret, project.id);
    expect(await verifier.verify(inProject)).toMatchObject({ valid: false, code: "PROJECT_NOT_ALLOWED" });
    expect(await verifier.verify(inProject, { projectId: project.id })).toMatchObject({
      valid: true,
      projectId: project.id,
    });
    expect(await verifier.verify(inProject, { projectId: "prj_other" })).toMatchObject({ code: "PROJECT_NOT_ALLOWED" });
    expect(verifyCalls).toBe(0);
    const tampered = `${token.slice(0, -4)}AAAA`;
    expect(await verifier.verify(tampered)).toMatchObject({ valid: false, code: "INVALID_TOKEN" });
  });

  it("has no answer, rather than a refusal, when the JWKS cannot be fetched", async () => {
    const key = await newKey({ name: "token jwks down" });
    const token = await exchange(key.secret);
    const down: typeof fetch = async (input, init) =>
      String(input instanceof Request ? input.url : input).endsWith("/jwks.json")
        ? new Response("unavailable", { status: 503 })
        : fetch(input, init);
    const verifier = createVerifier({ baseUrl: server.url, tokens: { offline: true }, fetch: down });
    await expect(verifier.verify(token)).rejects.toThrow();
  });

  it("gives up on a Keyward that does not answer, after timeoutMs", async () => {
    const silent = net.createServer(() => {}); // accepts, never answers
    const url = await listen(silent as unknown as http.Server);
    try {
      const verifier = createVerifier({ baseUrl: url, rootKey, timeoutMs: 300 });
      const started = Date.now();
      await expect(verifier.verify("kw_definitelynotarealkeyatallxxxxxxxxxxxx")).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });
});

describe("authenticateRequest", () => {
  it("sends the client address as one Keyward reads, or none; a question it cannot read is the service's error", async () => {
    const anywhere = await newKey({ name: "anywhere", permissions: ["compute:read"] });
    const pinned = await newKey({ name: "pinned", permissions: ["compute:read"], allowedIps: ["203.0.113.7"] });
    const verifier = createVerifier({ baseUrl: server.url, rootKey, cacheTtlMs: 0 });
    const ask = async (secret: string, ip: string) => {
      const out = await authenticateRequest(verifier, { headers: { authorization: `Bearer ${secret}` }, ip });
      return out.ok ? "ok" : out.refusal.body.reason;
    };
    // What some load balancers write into X-Forwarded-For, and so into a trusting req.ip.
    expect(await ask(anywhere.secret, "203.0.113.7:50312")).toBe("ok");
    expect(await ask(pinned.secret, "203.0.113.7:50312")).toBe("ok");
    expect(await ask(pinned.secret, "[::ffff:203.0.113.7]:443")).toBe("ok");
    expect(await ask(anywhere.secret, "unknown")).toBe("ok");
    expect(await ask(pinned.secret, "unknown")).toBe("IP_NOT_ALLOWED");
    // A credential Keyward cannot read is the client's: MALFORMED.
    expect(await ask(`kw_${"x".repeat(9000)}`, "203.0.113.7")).toBe("MALFORMED");
    // What a client may have put in the URL, too long to be a project id or a permission:
    // refused as such, not a 500.
    const named = async (opts: Parameters<typeof authenticateRequest>[2]) => {
      const out = await authenticateRequest(
        verifier,
        { headers: { authorization: `Bearer ${anywhere.secret}` } },
        opts,
      );
      return out.ok ? "ok" : out.refusal.body.reason;
    };
    expect(await named({ projectId: () => "p".repeat(49) })).toBe("PROJECT_NOT_ALLOWED");
    expect(await named({ permissions: [`storage:${"b".repeat(200)}:read`] })).toBe("INSUFFICIENT_PERMISSIONS");
    // With the service's own mistake in the same question, the mistake is what is seen.
    await expect(
      named({
        projectId: () => "p".repeat(49),
        permissions: Array.from({ length: 101 }, (_, i) => `compute:p${i}:read`),
      }),
    ).rejects.toThrow(/could not read the verification/);
    // A route asking about more permissions than Keyward takes is the service's mistake: thrown
    // for the framework's error path (a 500), not blamed on the client's key, and with nothing
    // of Keyward's answer in the message a framework may show.
    const err = await authenticateRequest(
      verifier,
      { headers: { authorization: `Bearer ${anywhere.secret}` } },
      { permissions: Array.from({ length: 101 }, (_, i) => `compute:p${i}:read`) },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("Keyward could not read the verification this service asked for (see cause)");
    expect((err as Error).cause).toMatchObject({ name: "KeywardError", status: 400 });
  });

  it("surfaces a verifier whose own credential may not verify, instead of answering 503", async () => {
    const plain = await newKey({ name: "not a verifier", permissions: ["compute:read"] });
    const verifier = createVerifier({ baseUrl: server.url, rootKey: plain.secret });
    const req = { headers: { authorization: `Bearer ${plain.secret}` } };
    // Thrown for the framework's error handler (a 500): with no `status` of its own, which a
    // framework would answer with, telling the client its key was refused; Keyward's is the cause.
    const err = await authenticateRequest(verifier, req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toHaveProperty("status");
    expect((err as Error).cause).toMatchObject({ name: "KeywardError", status: 403 });
  });
});

describe("unwrap", () => {
  it("keeps OAuth errors and Retry-After, as the throwing client does", async () => {
    const quiet = createKeywardClient({ baseUrl: server.url, throwOnError: false });
    const key = await newKey({
      name: "unwrap",
      permissions: ["compute:read"],
      ratelimit: { limit: 1, windowSeconds: 60 },
    });
    const grant = "urn:keyward:params:oauth:grant-type:apikey";
    const scoped = unwrap(
      quiet.POST("/v1/token", { body: { grant_type: grant, apikey: key.secret, scope: "compute:write" } }),
    );
    await expect(scoped).rejects.toMatchObject({ status: 400, code: "INVALID_SCOPE" });
    await unwrap(quiet.POST("/v1/token", { body: { grant_type: grant, apikey: key.secret } }));
    const limited = unwrap(quiet.POST("/v1/token", { body: { grant_type: grant, apikey: key.secret } }));
    await expect(limited).rejects.toMatchObject({ status: 429, code: "RATE_LIMITED" });
    expect((await limited.catch((e) => e)).retryAfter).toBeGreaterThan(0);
  });
});

/** The same checks for each framework's middleware. */
function middlewareSuite(
  name: string,
  start: (verifier: Verifier) => Promise<{ url: string; close: () => Promise<void> }>,
) {
  describe(`${name} middleware`, () => {
    let app: { url: string; close: () => Promise<void> };
    let reader: { id: string; secret: string };
    let fenced: { id: string; secret: string };
    let limited: { id: string; secret: string };

    beforeAll(async () => {
      reader = await newKey({ name: `${name} reader`, permissions: ["compute:read"] });
      fenced = await newKey({ name: `${name} fenced`, allowedIps: ["10.0.0.0/8"] });
      limited = await newKey({ name: `${name} limited`, ratelimit: { limit: 1, windowSeconds: 60 } });
      app = await start(createVerifier({ baseUrl: server.url, rootKey }));
    });
    afterAll(async () => app?.close());

    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${app.url}${path}`, { headers });
    const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

    it("lets a valid key through and exposes who it is", async () => {
      const res = await get("/servers", bearer(reader.secret));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ keyId: reader.id, orgId });
    });

    it("answers 401 problem+json without a key or with a bad one", async () => {
      const none = await get("/servers");
      expect(none.status).toBe(401);
      expect(none.headers.get("content-type")).toMatch(/application\/problem\+json/);
      expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(await none.json()).toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
      const bad = await get("/servers", bearer("kw_notarealkeyxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
      expect(bad.status).toBe(401);
      expect((await bad.json()).reason).toMatch(/NOT_FOUND|MALFORMED/);
    });

    it("answers 403 for a missing permission or a disallowed address", async () => {
      const write = await get("/servers/write", bearer(reader.secret));
      expect(write.status).toBe(403);
      expect(await write.json()).toMatchObject({ code: "FORBIDDEN", reason: "INSUFFICIENT_PERMISSIONS" });
      const ip = await get("/servers", bearer(fenced.secret));
      expect(ip.status).toBe(403);
      expect((await ip.json()).reason).toBe("IP_NOT_ALLOWED");
    });

    it("answers 429 with Retry-After when the key's rate limit is used up", async () => {
      expect((await get("/any", bearer(limited.secret))).status).toBe(200);
      const second = await get("/any", bearer(limited.secret));
      expect(second.status).toBe(429);
      expect(Number(second.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await second.json()).reason).toBe("RATE_LIMITED");
    });

    it("answers 401, not 503, for a credential too long for Keyward to read", async () => {
      const res = await get("/servers", bearer(`kw_${"a".repeat(5_000)}`));
      expect(res.status).toBe(401);
      expect((await res.json()).reason).toBe("MALFORMED");
    });

    it("reads the key from a configured header", async () => {
      expect((await get("/header", { "x-api-key": reader.secret })).status).toBe(200);
      expect((await get("/header", bearer(reader.secret))).status).toBe(401);
    });
  });
}

middlewareSuite("Express", async (verifier) => {
  const app = express();
  const guard = keywardExpress(verifier, { permissions: ["compute:read"] });
  app.get("/servers", guard, (req, res) => {
    res.json((req as unknown as { keyward: VerifiedKey }).keyward);
  });
  app.get("/servers/write", keywardExpress(verifier, { permissions: ["compute:write"] }), (_req, res) => {
    res.json({ ok: true });
  });
  app.get("/any", keywardExpress(verifier), (_req, res) => {
    res.json({ ok: true });
  });
  app.get("/header", keywardExpress(verifier, { header: "x-api-key" }), (_req, res) => {
    res.json({ ok: true });
  });
  const s = http.createServer(app);
  const url = await listen(s);
  return { url, close: () => new Promise<void>((r) => s.close(() => r())) };
});

middlewareSuite("Fastify", async (verifier) => {
  const app = Fastify();
  app.decorateRequest("keyward", null);
  app.get("/servers", { preHandler: keywardFastify(verifier, { permissions: ["compute:read"] }) }, async (req) => {
    return (req as unknown as { keyward: VerifiedKey }).keyward;
  });
  app.get("/servers/write", { preHandler: keywardFastify(verifier, { permissions: ["compute:write"] }) }, async () => ({
    ok: true,
  }));
  app.get("/any", { preHandler: keywardFastify(verifier) }, async () => ({ ok: true }));
  app.get("/header", { preHandler: keywardFastify(verifier, { header: "x-api-key" }) }, async () => ({ ok: true }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
});

middlewareSuite("node:http", async (verifier) => {
  const json = (res: http.ServerResponse, body: unknown) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const servers = keywardNode(verifier, (_req, res, key) => json(res, key), { permissions: ["compute:read"] });
  const write = keywardNode(verifier, (_req, res) => json(res, { ok: true }), { permissions: ["compute:write"] });
  const any = keywardNode(verifier, (_req, res) => json(res, { ok: true }));
  const header = keywardNode(verifier, (_req, res) => json(res, { ok: true }), { header: "x-api-key" });
  const s = http.createServer((req, res) => {
    const route = { "/servers": servers, "/servers/write": write, "/any": any, "/header": header }[req.url ?? ""];
    if (route) return route(req, res);
    res.writeHead(404).end();
  });
  const url = await listen(s);
  return { url, close: () => new Promise<void>((r) => s.close(() => r())) };
});
