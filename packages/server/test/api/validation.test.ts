import { afterAll, beforeAll, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { verifierKey } from "./verify-helpers.js";

const PROBLEM = "application/problem+json";

describeEachDialect("input validation and errors", (dialect) => {
  let h: Harness;
  let token: string;
  let orgId: string;
  let verifier: string;

  beforeAll(async () => {
    h = await Harness.init(dialect);
    // A route that fails unexpectedly, registered before the app is ready.
    h.app.get("/v1/test-boom", { schema: { security: [] } }, async () => {
      throw new Error("db password is hunter2 at /srv/keyward/secret.ts:42");
    });
    token = await h.login();
    orgId = h.operatorOrgId;
    verifier = await verifierKey(h);
  });
  afterAll(async () => h?.close());

  const raw = (method: string, url: string, headers: Record<string, string>, payload?: string) =>
    h.app.inject({ method: method as "POST", url, headers: { authorization: `Bearer ${token}`, ...headers }, payload });

  it("rejects unknown fields, naming them", async () => {
    const res = await h.req("POST", "/v1/orgs", { token, body: { name: "x", color: "red" } });
    expect(res.status).toBe(400);
    expect(res.headers["content-type"]).toContain(PROBLEM);
    expect(res.body).toMatchObject({ status: 400, code: "INVALID_REQUEST", title: "Invalid request" });
    expect(res.body.errors).toEqual([{ path: "color", code: "additionalProperties", message: "unknown field" }]);
    expect(res.body.requestId).toMatch(/^req_/);
    expect(res.headers["x-request-id"]).toBe(res.body.requestId);
  });

  it("rejects unknown nested fields", async () => {
    const res = await h.req("PATCH", `/v1/orgs/${orgId}`, { token, body: { settings: { nope: true } } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe("settings/nope");
  });

  it("lists every offending field at once", async () => {
    const res = await h.req("POST", `/v1/orgs/${orgId}/roles`, {
      token,
      body: { name: "", permissions: ["NOT A PERMISSION"], extra: 1 },
    });
    expect(res.status).toBe(400);
    const paths = res.body.errors.map((e: { path: string }) => e.path).sort();
    expect(paths).toEqual(expect.arrayContaining(["extra", "name", "permissions/0"]));
  });

  it("requires required fields", async () => {
    const res = await h.req("POST", `/v1/orgs/${orgId}/projects`, { token, body: {} });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: "name", code: "required", message: "is required" }]);
  });

  it("bounds names and descriptions", async () => {
    const long = await h.req("POST", "/v1/orgs", { token, body: { name: "x".repeat(101) } });
    expect(long.status).toBe(400);
    expect(long.body.errors[0]).toMatchObject({ path: "name", code: "maxLength" });
    const empty = await h.req("POST", "/v1/orgs", { token, body: { name: "" } });
    expect(empty.body.errors[0]).toMatchObject({ path: "name", code: "minLength" });
    const desc = await h.req("POST", `/v1/orgs/${orgId}/projects`, {
      token,
      body: { name: "p", description: "d".repeat(1001) },
    });
    expect(desc.body.errors[0]).toMatchObject({ path: "description", code: "maxLength" });
    const ok = await h.req("POST", "/v1/orgs", { token, body: { name: "x".repeat(100) } });
    expect(ok.status).toBe(201);
  });

  it("bounds lists", async () => {
    const roles = Array.from({ length: 51 }, () => ({ roleId: "role_viewer" }));
    const res = await h.req("POST", `/v1/orgs/${orgId}/service-accounts`, { token, body: { name: "sa", roles } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ path: "roles", code: "maxItems" });
    const ips = Array.from({ length: 101 }, (_, i) => `10.0.0.${i % 250}`);
    const settings = await h.req("PATCH", `/v1/orgs/${orgId}`, { token, body: { settings: { allowedIps: ips } } });
    expect(settings.status).toBe(400);
    expect(settings.body.errors[0]).toMatchObject({ path: "settings/allowedIps", code: "maxItems" });
  });

  it('does not coerce JSON body types (0 never becomes null, "5" never 5, 1 never true)', async () => {
    const org = (await h.req("POST", "/v1/orgs", { token, body: { name: "typed" } })).body;
    const patch = (settings: unknown) => h.req("PATCH", `/v1/orgs/${org.id}`, { token, body: { settings } });
    const zero = await patch({ maxKeyLifetimeDays: 0 });
    expect(zero.status).toBe(400);
    expect(zero.body.errors[0]).toMatchObject({ path: "settings/maxKeyLifetimeDays", code: "minimum" });
    expect((await patch({ maxKeyLifetimeDays: "5" })).status).toBe(400);
    expect((await patch({ requireExpiry: 1 })).status).toBe(400);
    expect((await patch({ requireExpiry: "true" })).status).toBe(400);
    const name = await h.req("POST", `/v1/orgs/${org.id}/projects`, { token, body: { name: 5 } });
    expect(name.status).toBe(400);
    expect(name.body.errors[0]).toMatchObject({ path: "name", code: "type" });
    const after = await h.req("GET", `/v1/orgs/${org.id}`, { token });
    expect(after.body.version).toBe(1);
    // Query strings are text and still coerce.
    expect((await h.req("GET", `/v1/orgs/${org.id}/projects?limit=5`, { token })).status).toBe(200);
  });

  it("bounds page sizes and rejects unknown query parameters and foreign cursors", async () => {
    const big = await h.req("GET", `/v1/orgs/${orgId}/projects?limit=201`, { token });
    expect(big.status).toBe(400);
    expect(big.body.errors[0]).toMatchObject({ path: "limit", code: "maximum" });
    expect((await h.req("GET", `/v1/orgs/${orgId}/projects?limit=0`, { token })).status).toBe(400);
    expect((await h.req("GET", `/v1/orgs/${orgId}/projects?limit=abc`, { token })).status).toBe(400);
    const unknown = await h.req("GET", `/v1/orgs/${orgId}/projects?sort=name`, { token });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0]).toMatchObject({ path: "sort", code: "additionalProperties" });
    const cursor = await h.req("GET", `/v1/orgs/${orgId}/projects?cursor=not-a-cursor`, { token });
    expect(cursor.status).toBe(400);
    expect(cursor.body.errors[0].path).toBe("cursor");
    expect((await h.req("GET", `/v1/orgs/${orgId}/projects?limit=200`, { token })).status).toBe(200);
    // A cursor shaped like one but made up: a NUL (a 500 on PostgreSQL before), a time that is no time.
    const made = (pos: unknown) => Buffer.from(JSON.stringify(pos)).toString("base64url");
    for (const pos of [
      { t: "\u0000", id: "prj_x" },
      { t: "yesterday", id: "prj_x" },
      { t: "2026-01-01T00:00:00.000Z", id: "x'; drop table projects" },
    ]) {
      const res = await h.req("GET", `/v1/orgs/${orgId}/projects?cursor=${made(pos)}`, { token });
      expect(res.status, JSON.stringify(pos)).toBe(400);
      expect(res.body.errors[0].path).toBe("cursor");
    }
  });

  it("refuses a NUL or an unpaired surrogate in any text, naming where, and stores nothing", async () => {
    const cases: [string, string, unknown, string][] = [
      ["POST", "/v1/orgs", { name: "a\u0000b" }, "name"],
      ["POST", `/v1/orgs/${orgId}/projects`, { name: "p", description: "d\u0000" }, "description"],
      ["POST", `/v1/orgs/${orgId}/projects`, { name: "a\ud800b" }, "name"],
      ["POST", `/v1/orgs/${orgId}/api-keys`, { name: "k", description: "\udc00" }, "description"],
      ["POST", `/v1/orgs/${orgId}/roles`, { name: "r", permissions: ["compute:read\u0000"] }, "permissions/0"],
      ["POST", "/v1/auth/login", { email: "a\u0000@example.com", password: "x" }, "email"],
      ["GET", `/v1/orgs/${orgId}/audit-events?actor=usr_%00`, undefined, "actor"],
    ];
    const projects = async () =>
      (await h.req("GET", `/v1/orgs/${orgId}/projects?limit=200`, { token })).body.items.length;
    const before = await projects();
    for (const [method, url, body, path] of cases) {
      const res = await h.req(method, url, { token, body });
      expect(res.status, `${method} ${url}`).toBe(400);
      expect(res.headers["content-type"]).toContain(PROBLEM);
      expect(res.body.errors[0], `${method} ${url}`).toMatchObject({ path, code: "characters" });
    }
    expect(await projects()).toBe(before);
    // A credential presented with one is judged, not refused: a key MALFORMED, a token inactive;
    // the token exchange answers as OAuth does.
    const v = await h.req("POST", "/v1/verify", { token: verifier, body: { key: "kw_\u0000abc" } });
    expect(v.body).toEqual({ valid: false, code: "MALFORMED" });
    const i = await h.req("POST", "/v1/token/introspect", { token: verifier, body: { token: "eyJ\u0000" } });
    expect(i.body).toEqual({ active: false });
    const t = await h.req("POST", "/v1/token", {
      body: { grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: "kw_\u0000abc" },
    });
    expect(t.status).toBe(400);
    expect(t.body.error).toBe("invalid_request");
    // Emoji (surrogate pairs) and other characters are fine.
    const ok = await h.req("POST", `/v1/orgs/${orgId}/projects`, { token, body: { name: "keys 🔑 \u202e" } });
    expect(ok.status).toBe(201);
    expect((await h.req("GET", `/v1/projects/${ok.body.id}`, { token })).body.name).toBe("keys 🔑 \u202e");
  });

  it("refuses an API key secret or a token pasted into any field, naming where, storing and echoing nothing", async () => {
    const key = (await h.req("POST", `/v1/orgs/${orgId}/api-keys`, { token, body: { name: "pasted" } })).body.secret;
    const jwt = (
      await h.req("POST", "/v1/token", {
        body: { grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: verifier },
      })
    ).body.access_token;
    expect(jwt).toMatch(/^eyJ/);
    const cases: [string, string, unknown, string][] = [
      ["POST", `/v1/orgs/${orgId}/api-keys`, { name: `prod ${key}` }, "name"],
      ["POST", `/v1/orgs/${orgId}/api-keys`, { name: "k", description: `see${key}!` }, "description"],
      ["POST", `/v1/orgs/${orgId}/projects`, { name: "p", description: `token: ${jwt}` }, "description"],
      ["POST", `/v1/orgs/${orgId}/service-accounts`, { name: key }, "name"],
      ["PATCH", `/v1/orgs/${orgId}`, { name: `org ${key}` }, "name"],
      ["GET", `/v1/orgs/${orgId}/audit-events?action=${key}`, undefined, "action"],
    ];
    const names = async () =>
      JSON.stringify([
        (await h.req("GET", `/v1/orgs/${orgId}/projects?limit=200`, { token })).body,
        (await h.req("GET", `/v1/orgs/${orgId}/api-keys?limit=200`, { token })).body,
        (await h.req("GET", `/v1/orgs/${orgId}/service-accounts?limit=200`, { token })).body,
        (await h.req("GET", `/v1/orgs/${orgId}`, { token })).body,
      ]);
    const before = await names();
    for (const [method, url, body, path] of cases) {
      const res = await h.req(method, url, { token, body });
      expect(res.status, `${method} ${url}`).toBe(400);
      expect(res.body.errors, `${method} ${url}`).toEqual([expect.objectContaining({ path, code: "credential" })]);
      expect(JSON.stringify(res.body)).not.toContain(key);
      expect(JSON.stringify(res.body)).not.toContain(jwt);
    }
    expect(await names()).toBe(before);
    // What only looks like a key (a checksum off, an id) is a name like any other.
    const lookalike = `${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`;
    const ok = await h.req("POST", `/v1/orgs/${orgId}/projects`, { token, body: { name: `x ${lookalike}` } });
    expect(ok.status).toBe(201);
    // The routes that take a credential still take one.
    expect((await h.req("POST", "/v1/verify", { token: verifier, body: { key } })).body.valid).toBe(true);
    expect((await h.req("POST", "/v1/token/introspect", { token: verifier, body: { token: jwt } })).body.active).toBe(
      true,
    );
  });

  it("names what is wrong with a nullable field's value, not that it is not null", async () => {
    const key = (await h.req("POST", `/v1/orgs/${orgId}/api-keys`, { token, body: { name: "rl" } })).body.apiKey;
    const cases: [unknown, { path: string; code: string }[]][] = [
      [{ limit: 5, windowSeconds: 172_800 }, [{ path: "ratelimit/windowSeconds", code: "maximum" }]],
      [{ limit: 0, windowSeconds: 60 }, [{ path: "ratelimit/limit", code: "minimum" }]],
      ["5/60s", [{ path: "ratelimit", code: "type" }]],
    ];
    for (const [ratelimit, errors] of cases) {
      const res = await h.req("PATCH", `/v1/api-keys/${key.id}`, { token, body: { ratelimit } });
      expect(res.status).toBe(400);
      expect(
        res.body.errors.map((e: { path: string; code: string }) => ({ path: e.path, code: e.code })),
        JSON.stringify(ratelimit),
      ).toEqual(errors);
      expect(res.body.detail).not.toMatch(/must be null|anyOf/);
    }
  });

  it("validates path ids", async () => {
    const res = await h.req("GET", "/v1/projects/not-an-id", { token });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ path: "projectId", code: "pattern" });
    expect((await h.req("GET", "/v1/orgs/prj_wrongprefix", { token })).status).toBe(400);
  });

  it("answers 413 for a body over the limit", async () => {
    const res = await raw(
      "POST",
      "/v1/orgs",
      { "content-type": "application/json" },
      JSON.stringify({ name: "x".repeat(70_000) }),
    );
    expect(res.statusCode).toBe(413);
    expect(res.headers["content-type"]).toContain(PROBLEM);
    expect(res.json().code).toBe("PAYLOAD_TOO_LARGE");
  });

  it.each(["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])(
    "answers 415 for a %s body",
    async (type) => {
      const res = await raw("POST", "/v1/orgs", { "content-type": type }, "name=x");
      expect(res.statusCode).toBe(415);
      expect(res.headers["content-type"]).toContain(PROBLEM);
      expect(res.json().code).toBe("UNSUPPORTED_MEDIA_TYPE");
    },
  );

  it("answers 400 for invalid JSON", async () => {
    for (const payload of ["{bad", '{"name": "x",}', "[1,", "nul"]) {
      const res = await raw("POST", "/v1/orgs", { "content-type": "application/json" }, payload);
      expect(res.statusCode, payload).toBe(400);
      expect(res.json()).toMatchObject({ code: "INVALID_REQUEST", detail: "Body is not valid JSON" });
    }
  });

  it("answers 400 for a JSON body that is not an object", async () => {
    const res = await raw("POST", "/v1/orgs", { "content-type": "application/json" }, "[1]");
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].path).toBe("body");
  });

  it("rejects prototype poisoning", async () => {
    const res = await raw(
      "POST",
      "/v1/orgs",
      { "content-type": "application/json" },
      '{"name":"x","__proto__":{"admin":true}}',
    );
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe("INVALID_REQUEST");
  });

  it("answers 500 with a request id and no internals for unexpected errors", async () => {
    const res = await h.req("GET", "/v1/test-boom");
    expect(res.status).toBe(500);
    expect(res.headers["content-type"]).toContain(PROBLEM);
    expect(res.body).toMatchObject({ status: 500, code: "INTERNAL", title: "Internal error" });
    expect(res.body.requestId).toMatch(/^req_[0-9A-Za-z]{24}$/);
    expect(res.body.detail).toContain(res.body.requestId);
    const text = JSON.stringify(res.body);
    for (const leak of ["hunter2", "secret.ts", "/srv", "stack", "Error"]) expect(text).not.toContain(leak);
  });

  it("answers unknown routes with a problem+json 404", async () => {
    const res = await h.req("GET", "/v1/does-not-exist", { token });
    expect(res.status).toBe(404);
    expect(res.headers["content-type"]).toContain(PROBLEM);
    expect(res.body.code).toBe("NOT_FOUND");
  });

  it("answers a known path asked with another method with 405, naming the methods it takes", async () => {
    const verify = await h.req("GET", "/v1/verify", { token });
    expect(verify.status).toBe(405);
    expect(verify.headers["content-type"]).toContain(PROBLEM);
    expect(verify.headers.allow).toBe("POST");
    expect(verify.body.code).toBe("METHOD_NOT_ALLOWED");
    const key = await h.req("PUT", "/v1/api-keys/key_0123456789abcdefghijklmn", { token, body: {} });
    expect(key.status).toBe(405);
    expect(String(key.headers.allow).split(", ").sort()).toEqual(["DELETE", "GET", "HEAD", "PATCH"]);
    // A path no route has stays a 404.
    expect((await h.req("POST", "/v1/verify/extra", { token, body: {} })).status).toBe(404);
  });

  it("answers a malformed Authorization header with 401", async () => {
    const res = await h.req("GET", "/v1/me", { headers: { authorization: "Basic abc" } });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("UNAUTHENTICATED");
    const unknown = await h.req("GET", "/v1/me", { token: "sess_doesnotexist" });
    expect(unknown.status).toBe(401);
  });

  it("validates emails on invitations", async () => {
    const res = await h.req("POST", `/v1/orgs/${orgId}/invitations`, { token, body: { email: "not an email" } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ path: "email", code: "format" });
  });
});
