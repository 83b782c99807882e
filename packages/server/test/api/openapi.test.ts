import { afterAll, beforeAll, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";

/** The identity routes this server must document (other features add theirs). */
const ROUTES: [string, string][] = [
  ["post", "/v1/auth/login"],
  ["post", "/v1/auth/logout"],
  ["get", "/v1/me"],
  ["post", "/v1/me/password"],
  ["get", "/v1/orgs"],
  ["post", "/v1/orgs"],
  ["get", "/v1/orgs/{orgId}"],
  ["patch", "/v1/orgs/{orgId}"],
  ["delete", "/v1/orgs/{orgId}"],
  ["get", "/v1/orgs/{orgId}/projects"],
  ["post", "/v1/orgs/{orgId}/projects"],
  ["get", "/v1/projects/{projectId}"],
  ["patch", "/v1/projects/{projectId}"],
  ["delete", "/v1/projects/{projectId}"],
  ["get", "/v1/orgs/{orgId}/service-accounts"],
  ["post", "/v1/orgs/{orgId}/service-accounts"],
  ["get", "/v1/service-accounts/{serviceAccountId}"],
  ["patch", "/v1/service-accounts/{serviceAccountId}"],
  ["delete", "/v1/service-accounts/{serviceAccountId}"],
  ["get", "/v1/orgs/{orgId}/roles"],
  ["post", "/v1/orgs/{orgId}/roles"],
  ["get", "/v1/roles/{roleId}"],
  ["patch", "/v1/roles/{roleId}"],
  ["delete", "/v1/roles/{roleId}"],
  ["get", "/v1/orgs/{orgId}/members"],
  ["get", "/v1/orgs/{orgId}/members/{userId}"],
  ["patch", "/v1/orgs/{orgId}/members/{userId}"],
  ["delete", "/v1/orgs/{orgId}/members/{userId}"],
  ["get", "/v1/orgs/{orgId}/invitations"],
  ["post", "/v1/orgs/{orgId}/invitations"],
  ["delete", "/v1/invitations/{invitationId}"],
  ["post", "/v1/invitations/{token}/accept"],
  ["get", "/v1/permissions"],
  ["get", "/healthz"],
  ["get", "/readyz"],
];

const NAMED = [
  "Problem",
  "RoleBinding",
  "OrgSettings",
  "Org",
  "User",
  "Project",
  "ServiceAccount",
  "Role",
  "Member",
  "Invitation",
  "Permission",
];

describeEachDialect("OpenAPI document and docs", (dialect) => {
  let h: Harness;
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON document
  let doc: any;

  beforeAll(async () => {
    h = await Harness.init(dialect);
    const res = await h.req("GET", "/openapi.json");
    expect(res.status).toBe(200);
    doc = res.body;
  });
  afterAll(async () => h?.close());

  it("is OpenAPI 3.1 with info and security schemes", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.title).toBe("Keyward API");
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(["bearer", "session"]);
  });

  it("lists every identity route with a summary, tags and responses", () => {
    for (const [method, path] of ROUTES) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method.toUpperCase()} ${path}`).toBeDefined();
      expect(op.summary, path).toBeTruthy();
      expect(op.tags?.length, path).toBeGreaterThan(0);
      expect(Object.keys(op.responses).length, path).toBeGreaterThan(0);
    }
  });

  it("names shared schemas under components, with no generated def-N names", () => {
    const names = Object.keys(doc.components.schemas);
    expect(names).toEqual(expect.arrayContaining(NAMED));
    expect(names.filter((n) => /^def-\d+$/.test(n))).toEqual([]);
  });

  it("only refers to component schemas that exist", () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const r of new Set(refs)) {
      const m = /"\$ref":"#\/components\/schemas\/([^"]+)"/.exec(r);
      expect(m, r).not.toBeNull();
      expect(doc.components.schemas[m?.[1] ?? ""], r).toBeDefined();
    }
  });

  it("uses the named schemas in responses and documents errors as Problem", () => {
    const get = doc.paths["/v1/orgs/{orgId}"].get.responses;
    expect(JSON.stringify(get["200"])).toContain("#/components/schemas/Org");
    expect(JSON.stringify(get["404"])).toContain("#/components/schemas/Problem");
    // /v1/verify answers 503 (retryable) when a cache miss cannot reach the key store.
    expect(JSON.stringify(doc.paths["/v1/verify"].post.responses["503"])).toContain("#/components/schemas/Problem");
    // Any route that needs the database answers 503 while it cannot be reached.
    expect(JSON.stringify(get["503"])).toContain("#/components/schemas/Problem");
    const list = doc.paths["/v1/orgs/{orgId}/members"].get;
    expect(JSON.stringify(list.responses["200"])).toContain("#/components/schemas/Member");
    expect(list.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(["limit", "cursor", "orgId"]),
    );
  });

  it("declares every error answer as application/problem+json, the media type it is sent with", async () => {
    let errors = 0;
    for (const [path, item] of Object.entries<Record<string, { responses: Record<string, { content?: object }> }>>(
      doc.paths,
    )) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses ?? {})) {
          if (Number(status) < 400 || !response.content) continue;
          errors++;
          expect(Object.keys(response.content), `${method} ${path} ${status}`).toEqual(["application/problem+json"]);
        }
      }
    }
    expect(errors).toBeGreaterThan(100);
    const res = await h.req("GET", "/v1/orgs/org_nope", { token: await h.login() });
    expect(res.headers["content-type"]).toContain("application/problem+json");
  });

  it("declares the 400 every operation may answer, and the 415 of every one that may take a body", async () => {
    const token = await h.login();
    // A malformed id in the path is a 400 (it was answered, not declared, by 15 operations).
    expect((await h.req("GET", "/v1/api-keys/not-a-key", { token })).status).toBe(400);
    const key = await h.req("POST", `/v1/orgs/${h.operatorOrgId}/api-keys`, { token, body: { name: "k" } });
    const form = { payload: "a=b", headers: { "content-type": "application/x-www-form-urlencoded" } };
    expect((await h.req("POST", `/v1/api-keys/${key.body.apiKey.id}/disable`, { token, ...form })).status).toBe(415);
    const undeclared: string[] = [];
    for (const [path, item] of Object.entries<Record<string, { responses?: Record<string, unknown> }>>(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const statuses = Object.keys(op.responses ?? {});
        if (!statuses.includes("400")) undeclared.push(`${method} ${path} 400`);
        if (["post", "put", "patch"].includes(method) && !statuses.includes("415"))
          undeclared.push(`${method} ${path} 415`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it("marks public routes as needing no credential", () => {
    for (const path of ["/v1/auth/login", "/v1/invitations/{token}/accept"]) {
      expect(doc.paths[path].post.security).toEqual([]);
    }
    expect(doc.paths["/v1/orgs"].get.security).toBeUndefined();
  });

  it("serves /docs from this server without anything from another host", async () => {
    const redirect = await h.req("GET", "/docs");
    expect([200, 301, 302]).toContain(redirect.status);
    const page = await h.req("GET", "/docs/");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    const html = String(page.body);
    expect(html.match(/https?:\/\/[^\s"'<>)]+/g) ?? []).toEqual([]);
    expect(html).not.toMatch(/\/\/[a-z0-9.-]+\.[a-z]{2,}\//i); // no protocol-relative hosts either
    // Scripts load from this server only, and Scalar's remote services are turned off.
    const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) {
      expect(src).not.toMatch(/^(https?:)?\/\//);
      const js = await h.req("GET", new URL(src, "http://x/docs/").pathname);
      expect(js.status).toBe(200);
    }
    expect(html).toContain('"withDefaultFonts": false');
    expect(html).toContain('"proxyUrl": ""');
    expect(html).toContain('"url": "/openapi.json"');
  });
});
