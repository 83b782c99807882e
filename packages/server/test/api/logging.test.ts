import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Keyward, createKeyward } from "../../src/compose.js";
import { loadConfig } from "../../src/config.js";
import { randomBase62 } from "../../src/domain/ids.js";
import { generateSecret } from "../../src/domain/keys/secret.js";
import { loggerOptions } from "../../src/http/app.js";
import { bootstrap } from "../../src/services/bootstrap.js";
import { OWNER_EMAIL, OWNER_PASSWORD, describeEachDialect } from "../harness.js";

/** Runs real traffic through an app whose structured log goes to memory, then reads it. */
describeEachDialect("structured logs", (dialect) => {
  const lines: string[] = [];
  const secrets: string[] = [OWNER_PASSWORD, "new-user-password-1"];
  let kw: Keyward;
  let dir: string;
  let schema: string | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "keyward-log-"));
    schema = dialect === "postgres" ? `t_${randomBase62(12).toLowerCase()}` : undefined;
    const config = loadConfig({
      KEYWARD_DATA_DIR: dir,
      KEYWARD_DATABASE_URL: dialect === "postgres" ? inject("pgUrl") : path.join(dir, "keyward.db"),
      KEYWARD_SECRET: "test-secret-test-secret-test-secret-0123456789",
      KEYWARD_CONFIG: path.join(import.meta.dirname, "..", "fixtures", "keyward.config.json"),
    });
    config.databaseSchema = schema;
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split("\n").filter(Boolean));
        done();
      },
    });
    kw = await createKeyward(config, { logger: loggerOptions("debug", stream) });
    kw.app.get("/v1/test-boom", { schema: { security: [] } }, async () => {
      throw new Error("boom");
    });
    await bootstrap(kw.db, { ...config, adminEmail: OWNER_EMAIL, adminPassword: OWNER_PASSWORD }, new Date());

    const inject_ = async (
      method: string,
      url: string,
      opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
    ) => {
      const res = await kw.app.inject({
        method: method as "GET",
        url,
        headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.headers ?? {}) },
        ...(opts.body !== undefined ? { payload: opts.body as object } : {}),
      });
      return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers };
    };
    const login = await inject_("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: OWNER_PASSWORD } });
    expect(login.status).toBe(200);
    const token = login.body.token as string;
    expect(login.headers["cache-control"]).toBe("no-store");
    secrets.push(token, login.body.csrfToken);
    await inject_("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: "wrong-password-xyz" } });
    secrets.push("wrong-password-xyz");
    const orgs = await inject_("GET", "/v1/orgs", { token });
    const orgId = orgs.body.items[0].id;
    const inv = await inject_("POST", `/v1/orgs/${orgId}/invitations`, {
      token,
      body: { email: "logged@example.com" },
    });
    secrets.push(inv.body.token);
    expect(inv.headers["cache-control"]).toBe("no-store");
    const acc = await inject_("POST", `/v1/invitations/${inv.body.token}/accept`, {
      body: { name: "L", password: "new-user-password-1" },
    });
    expect(acc.status).toBe(200);
    // A cookie session with its CSRF header, and a bad bearer token.
    await inject_("POST", "/v1/orgs", {
      headers: { cookie: `kw_session=${token}`, "x-csrf-token": login.body.csrfToken },
      body: { name: "via cookie" },
    });
    await inject_("GET", "/v1/me", { token: "sess_NotARealTokenButSecretLooking1" });
    secrets.push("sess_NotARealTokenButSecretLooking1");
    await inject_("POST", "/v1/me/password", {
      token,
      body: { currentPassword: OWNER_PASSWORD, newPassword: "changed-password-99" },
    });
    secrets.push("changed-password-99");
    // Credentials where a client should not put them: the console's invitation link, a key or a
    // token in a path or a query, a password in a query. Logged URLs must not repeat them.
    const key = generateSecret("kw").secret;
    const jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    secrets.push(key, jwt, "query-password-77");
    const second = await inject_("POST", `/v1/orgs/${orgId}/invitations`, { token, body: { email: "l2@example.com" } });
    secrets.push(second.body.token);
    for (const url of [
      `/invite/${second.body.token}`,
      `/V1/invitations/${second.body.token}/accept`,
      `/v1/token?apikey=${key}`,
      `/v1/me?access_token=${jwt}`,
      `/v1/auth/login?password=query-password-77`,
      `/v1/verify?key=${key}`,
      `/v1/orgs/${orgId}/api-keys?view=${key}`,
    ])
      await inject_("GET", url);
    // An error answer quoting a credential sent in the wrong field does not repeat it either:
    // a key is refused as one, and what merely looks like a credential is redacted.
    const refused = await inject_("POST", `/v1/orgs/${orgId}/api-keys`, {
      token,
      body: { name: "k", permissions: [key] },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([expect.objectContaining({ path: "permissions/0", code: "credential" })]);
    expect(JSON.stringify(refused.body)).not.toContain(key);
    const echoed = await inject_("POST", `/v1/orgs/${orgId}/api-keys`, {
      token,
      body: { name: "k", permissions: [second.body.token] },
    });
    expect(echoed.status).toBe(400);
    expect(JSON.stringify(echoed.body)).not.toContain(second.body.token);
    expect(JSON.stringify(echoed.body)).toContain("[redacted]");
    await inject_("GET", "/v1/test-boom");
    await inject_("POST", "/v1/auth/logout", { token });
  });

  afterAll(async () => {
    if (schema && kw?.db.pgPool) await kw.db.pgPool.query(`drop schema if exists ${schema} cascade`).catch(() => {});
    await kw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("warns at start, on PostgreSQL without Redis, that each node counts rate limits alone", () => {
    const warned = lines
      .map((l) => JSON.parse(l))
      .filter((e) => /rate limits are counted on this node only/.test(e.msg));
    expect(warned.length).toBe(dialect === "postgres" ? 1 : 0);
    if (warned.length) expect(warned[0].level).toBe(40);
  });

  it("writes one JSON object per line with level, time and request id", () => {
    expect(lines.length).toBeGreaterThan(10);
    const entries = lines.map((l) => JSON.parse(l));
    for (const e of entries) {
      expect(typeof e.level).toBe("number");
      expect(typeof e.time).toBe("number");
    }
    const requests = entries.filter((e) => e.req);
    expect(requests.length).toBeGreaterThan(5);
    for (const e of requests) {
      expect(e.reqId).toMatch(/^req_/);
      expect(Object.keys(e.req).sort()).toEqual(["ip", "method", "reqId", "url"]);
    }
    expect(entries.some((e) => e.res?.statusCode === 200 && typeof e.responseTime === "number")).toBe(true);
  });

  it("logs unexpected errors with the request id", () => {
    const entries = lines.map((l) => JSON.parse(l));
    const err = entries.find((e) => e.msg === "unhandled error");
    expect(err).toBeDefined();
    expect(err.reqId).toMatch(/^req_/);
    expect(err.err.message).toBe("boom");
  });

  it("never contains a password, session token, CSRF token or invitation token", () => {
    const all = lines.join("\n");
    for (const secret of secrets) expect(all, `log leaks ${secret.slice(0, 8)}…`).not.toContain(secret);
    expect(all).not.toMatch(/inv_[0-9A-Za-z]{40}/);
    expect(all).not.toMatch(/sess_[0-9A-Za-z]{20,}/);
    expect(all).not.toMatch(/"authorization"|"cookie"/i);
  });

  it("redacts the invitation-accept URL", () => {
    const urls = lines
      .map((l) => JSON.parse(l))
      .filter((e) => e.req)
      .map((e) => e.req.url);
    expect(urls).toContain("/v1/invitations/[redacted]/accept");
    expect(urls).toContain("/invite/[redacted]");
    expect(urls).toContain("/v1/auth/login?password=[redacted]");
    // Ids and ordinary queries stay readable.
    expect(urls.some((u: string) => /^\/v1\/orgs\/org_[0-9A-Za-z]{24}\/invitations$/.test(u))).toBe(true);
  });
});

/**
 * `POST /v1/verify` answers are request-logged only with KEYWARD_LOG_VERIFY_REQUESTS=true, both
 * when Fastify answers and when the lane in front of it does (over a socket).
 */
describe("request logs of /v1/verify", () => {
  async function app(env: Record<string, string>) {
    const dir = mkdtempSync(path.join(tmpdir(), "keyward-log-"));
    const lines: string[] = [];
    const config = loadConfig({
      KEYWARD_DATA_DIR: dir,
      KEYWARD_DATABASE_URL: path.join(dir, "keyward.db"),
      KEYWARD_SECRET: "test-secret-test-secret-test-secret-0123456789",
      KEYWARD_CONFIG: path.join(import.meta.dirname, "..", "fixtures", "keyward.config.json"),
      ...env,
    });
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split("\n").filter(Boolean));
        done();
      },
    });
    const kw = await createKeyward(config, { logger: loggerOptions("info", stream) });
    await kw.app.listen({ port: 0, host: "127.0.0.1" });
    const base = `http://127.0.0.1:${(kw.app.server.address() as { port: number }).port}`;
    // An unknown key as the caller: the lane answers it (401); a session-less inject goes to Fastify.
    const viaLane = await fetch(`${base}/v1/verify`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${generateSecret("kw").secret}` },
      body: JSON.stringify({ key: "kw_x" }),
    });
    const viaFastify = await kw.app.inject({ method: "POST", url: "/v1/verify", payload: { key: "kw_x" } });
    await fetch(`${base}/healthz`);
    await kw.close();
    rmSync(dir, { recursive: true, force: true });
    const entries = lines.map((l) => JSON.parse(l));
    const ids = [viaLane.headers.get("x-request-id"), viaFastify.headers["x-request-id"]];
    expect(viaLane.status).toBe(401);
    expect(viaFastify.statusCode).toBe(401);
    return {
      verifyLines: (id: unknown) => entries.filter((e) => e.reqId === id),
      ids,
      healthz: entries.filter((e) => e.req?.url === "/healthz"),
    };
  }

  it("leaves them out by default, and logs other requests", async () => {
    const { verifyLines, ids, healthz } = await app({});
    for (const id of ids) expect(verifyLines(id)).toEqual([]);
    expect(healthz.length).toBe(1);
  });

  it("logs them with KEYWARD_LOG_VERIFY_REQUESTS=true, lane and Fastify alike", async () => {
    const { verifyLines, ids } = await app({ KEYWARD_LOG_VERIFY_REQUESTS: "true" });
    for (const id of ids) {
      const msgs = verifyLines(id).map((e) => e.msg);
      expect(msgs).toContain("incoming request");
      expect(msgs).toContain("request completed");
    }
  });
});
