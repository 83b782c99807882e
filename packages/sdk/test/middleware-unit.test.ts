import { describe, expect, it } from "vitest";
import { KeywardError, Verifier, authenticateRequest, readCredential } from "../src/index.js";

/** A Verifier whose POST /v1/verify is answered by `answer` (no server). */
function fakeVerifier(answer: (body: Record<string, unknown>) => Response) {
  const seen: Record<string, unknown>[] = [];
  const verifier = new Verifier({
    baseUrl: "http://keyward.invalid",
    rootKey: "kw_root",
    fetch: async (_url, init) => {
      const body = JSON.parse(String(init?.body));
      seen.push(body);
      return answer(body);
    },
  });
  return { verifier, seen };
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

describe("authenticateRequest", () => {
  it("reads Bearer credentials and custom headers", () => {
    expect(readCredential({ headers: { authorization: "Bearer kw_abc" } })).toBe("kw_abc");
    expect(readCredential({ headers: { authorization: "bearer   kw_abc" } })).toBe("kw_abc");
    expect(readCredential({ headers: { authorization: "Basic xyz" } })).toBeNull();
    expect(readCredential({ headers: { "x-api-key": " kw_abc " } }, "X-API-Key")).toBe("kw_abc");
    expect(readCredential({ headers: {} })).toBeNull();
  });

  it("sends the permissions, project, IP and method it was given", async () => {
    const { verifier, seen } = fakeVerifier(() =>
      json({
        valid: true,
        keyId: "key_1",
        orgId: "org_1",
        owner: { type: "user", id: "usr_1" },
        permissions: [],
        expiresAt: null,
      }),
    );
    const out = await authenticateRequest(
      verifier,
      { method: "POST", headers: { authorization: "Bearer kw_abc" }, ip: "203.0.113.9" },
      { permissions: (r) => [`compute:${r.method === "POST" ? "write" : "read"}`], projectId: () => "prj_1" },
    );
    expect(out.ok).toBe(true);
    expect(seen[0]).toEqual({
      key: "kw_abc",
      permissions: ["compute:write"],
      projectId: "prj_1",
      ip: "203.0.113.9",
      method: "POST",
    });
  });

  it("maps refusal codes to 401, 403 and 429", async () => {
    for (const [code, status] of [
      ["NOT_FOUND", 401],
      ["EXPIRED", 401],
      ["DISABLED", 401],
      ["OWNER_INACTIVE", 401],
      ["IP_NOT_ALLOWED", 403],
      ["READ_ONLY", 403],
      ["PROJECT_NOT_ALLOWED", 403],
      ["INSUFFICIENT_PERMISSIONS", 403],
      ["RATE_LIMITED", 429],
    ] as const) {
      const resetAt = new Date(Date.now() + 30_000).toISOString();
      const { verifier } = fakeVerifier(() =>
        json({ valid: false, code, ratelimit: { limit: 1, remaining: 0, resetAt } }),
      );
      const out = await authenticateRequest(verifier, { headers: { authorization: "Bearer kw_abc" } });
      if (out.ok) throw new Error("expected a refusal");
      expect(out.refusal.status, code).toBe(status);
      expect(out.refusal.body.reason).toBe(code);
      expect(out.refusal.headers["content-type"]).toMatch(/problem\+json/);
      if (status === 429) expect(Number(out.refusal.headers["retry-after"])).toBeGreaterThanOrEqual(29);
    }
  });

  it("answers 503 when Keyward fails, passing its Retry-After on", async () => {
    const { verifier } = fakeVerifier(() =>
      json({ type: "t", title: "Service unavailable", status: 503, detail: "store down", code: "UNAVAILABLE" }, 503, {
        "retry-after": "7",
      }),
    );
    await expect(verifier.verify("kw_abc")).rejects.toBeInstanceOf(KeywardError);
    const out = await authenticateRequest(verifier, { headers: { authorization: "Bearer kw_abc" } });
    if (out.ok) throw new Error("expected a refusal");
    expect(out.refusal.status).toBe(503);
    expect(out.refusal.headers["retry-after"]).toBe("7");
  });

  it("never caches past the key's expiry", async () => {
    let calls = 0;
    const { verifier } = fakeVerifier(() => {
      calls++;
      return json({
        valid: true,
        keyId: "key_1",
        orgId: "org_1",
        owner: { type: "user", id: "usr_1" },
        permissions: [],
        expiresAt: new Date(Date.now() - 1).toISOString(),
      });
    });
    await verifier.verify("kw_abc");
    await verifier.verify("kw_abc");
    expect(calls).toBe(2);
  });
});

describe("Verifier", () => {
  it("freezes a cached answer all the way down: a handler cannot change the owner the next request is told", async () => {
    const { verifier, seen } = fakeVerifier(() =>
      json({
        valid: true,
        keyId: "key_1",
        orgId: "org_1",
        owner: { type: "user", id: "usr_alice" },
        permissions: ["compute:read"],
        expiresAt: null,
      }),
    );
    const req = { method: "GET", headers: { authorization: "Bearer kw_client" } };
    const first = await authenticateRequest(verifier, req);
    if (!first.ok) throw new Error("expected valid");
    expect(() => {
      (first.key.owner as { id: string }).id = "usr_mallory";
    }).toThrow(TypeError);
    const second = await authenticateRequest(verifier, req);
    expect(seen).toHaveLength(1); // from the cache
    expect(second.ok && second.key.owner.id).toBe("usr_alice");
  });

  it("refuses to be made with no credential of its own and no offline tokens", () => {
    // The README's example with KEYWARD_ROOT_KEY unset: every request was answered 503, as if
    // Keyward were down, with nothing said to the operator.
    expect(() => new Verifier({ baseUrl: "http://keyward.invalid", rootKey: undefined })).toThrow(
      /rootKey is required/,
    );
    expect(() => new Verifier({ baseUrl: "http://keyward.invalid", tokens: { offline: true } })).not.toThrow();
  });

  it("keeps its rootKey out of logs and JSON", async () => {
    const { inspect } = await import("node:util");
    const rootKey = "kw_3kTq9ROOTKEYSECRETxxxxxxxxxxxxxxxxxxx";
    const verifier = new Verifier({ baseUrl: "http://keyward.invalid", rootKey });
    expect(inspect(verifier, { depth: 5, showHidden: true })).not.toContain(rootKey);
    expect(JSON.stringify({ verifier })).not.toContain(rootKey);
  });
});
