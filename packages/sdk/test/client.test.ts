import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeywardError, createKeywardClient, paginate, unwrap } from "../src/index.js";
import { type TestServer, login, startServer } from "./server.js";

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startServer();
  token = await login(server);
});
afterAll(async () => server?.stop());

describe("typed client", () => {
  it("calls endpoints with typed params and returns typed data", async () => {
    const kw = createKeywardClient({ baseUrl: server.url, apiKey: token });
    const { data: me } = await kw.GET("/v1/me");
    expect(me?.user?.email).toBe(server.email);

    const org = await unwrap(kw.POST("/v1/orgs", { body: { name: "SDK Org" } }));
    expect(org.id).toMatch(/^org_/);
    const project = await unwrap(
      kw.POST("/v1/orgs/{orgId}/projects", { params: { path: { orgId: org.id } }, body: { name: "web" } }),
    );
    const list = await unwrap(
      kw.GET("/v1/orgs/{orgId}/projects", { params: { path: { orgId: org.id }, query: { limit: 10 } } }),
    );
    expect(list.items.map((p) => p.id)).toContain(project.id);
  });

  it("creates, rotates and deletes a key with typed calls", async () => {
    const kw = createKeywardClient({ baseUrl: server.url, apiKey: token });
    const orgId = (await unwrap(kw.GET("/v1/orgs"))).items[0].id;
    const { apiKey, secret } = await unwrap(
      kw.POST("/v1/orgs/{orgId}/api-keys", {
        params: { path: { orgId } },
        body: { name: "ci deploy", permissions: ["compute:read"], expiresAt: "2099-01-01T00:00:00Z" },
      }),
    );
    expect(secret).toMatch(/^kw_/);
    expect(apiKey.expiresAt).toBe("2099-01-01T00:00:00.000Z");

    // The key itself is a credential for the client.
    const asKey = createKeywardClient({ baseUrl: server.url, apiKey: secret });
    expect((await unwrap(asKey.GET("/v1/me"))).credential).toMatchObject({ type: "api_key", id: apiKey.id });

    const idem = crypto.randomUUID();
    const rotate = () =>
      unwrap(
        kw.POST("/v1/api-keys/{keyId}/regenerate", {
          params: { path: { keyId: apiKey.id } },
          body: { graceSeconds: 3600 },
          headers: { "idempotency-key": idem },
        }),
      );
    const first = await rotate();
    expect(first.secret).not.toBe(secret);
    expect((await rotate()).secret).toBe(first.secret); // a retried call gives the same answer
    const list = await unwrap(
      kw.GET("/v1/orgs/{orgId}/api-keys", { params: { path: { orgId }, query: { view: "mine" } } }),
    );
    expect(list.items.map((k) => k.id)).toContain(apiKey.id);

    await kw.DELETE("/v1/api-keys/{keyId}", { params: { path: { keyId: apiKey.id } } });
    const err = await kw
      .DELETE("/v1/api-keys/{keyId}", { params: { path: { keyId: apiKey.id } } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeywardError);
    expect(err).toMatchObject({ status: 404, code: "NOT_FOUND" });
  });

  it("paginates list endpoints", async () => {
    const kw = createKeywardClient({ baseUrl: server.url, apiKey: token });
    const org = await unwrap(kw.POST("/v1/orgs", { body: { name: "Paging" } }));
    const names = ["p1", "p2", "p3", "p4", "p5"];
    for (const name of names) {
      await kw.POST("/v1/orgs/{orgId}/projects", { params: { path: { orgId: org.id } }, body: { name } });
    }
    const seen: string[] = [];
    for await (const project of paginate((cursor) =>
      kw.GET("/v1/orgs/{orgId}/projects", { params: { path: { orgId: org.id }, query: { limit: 2, cursor } } }),
    )) {
      seen.push(project.name);
    }
    expect(seen.sort()).toEqual(names);
  });

  it("throws KeywardError carrying the problem code and field errors", async () => {
    const kw = createKeywardClient({ baseUrl: server.url, apiKey: token });
    const err = await kw
      .POST("/v1/orgs", { body: { name: "" } })
      .then(() => null)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeywardError);
    const ke = err as KeywardError;
    expect(ke.status).toBe(400);
    expect(ke.code).toBe("INVALID_REQUEST");
    expect(ke.errors.map((e) => e.path)).toContain("name");
    expect(ke.requestId).toMatch(/^req_/);

    const missing = await kw
      .GET("/v1/projects/{projectId}", { params: { path: { projectId: "prj_doesnotexist" } } })
      .catch((e: unknown) => e);
    expect(missing).toMatchObject({ name: "KeywardError", status: 404, code: "NOT_FOUND" });
  });

  it("reports 401 for a missing credential", async () => {
    const kw = createKeywardClient({ baseUrl: server.url });
    await expect(kw.GET("/v1/me")).rejects.toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
  });

  it("with throwOnError: false, unwrap still throws a KeywardError", async () => {
    const kw = createKeywardClient({ baseUrl: server.url, throwOnError: false });
    const res = await kw.GET("/v1/me");
    expect(res.response.status).toBe(401);
    await expect(unwrap(kw.GET("/v1/me"))).rejects.toBeInstanceOf(KeywardError);
  });
});
