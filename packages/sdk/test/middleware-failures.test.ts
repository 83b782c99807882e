import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Verifier, authenticateRequest, createVerifier, keywardExpress, keywardFastify } from "../src/index.js";

/**
 * How the verifier and its middleware behave when something other than the client's key goes
 * wrong: the response was already sent, Keyward refuses the verifier's own credential, or the
 * verifier has no credential of its own (offline tokens only). Each case failed before its fix.
 */

describe("keywardExpress after the response was sent (a request timeout in front)", () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  let s: http.Server;
  let url: string;

  beforeAll(async () => {
    // Our own listener, so the test can assert (vitest also notices it and fails the run).
    process.on("unhandledRejection", onUnhandled);
    // Keyward answers NOT_FOUND, slowly (300 ms), as a busy Keyward would.
    const verifier = new Verifier({
      baseUrl: "http://keyward.invalid",
      rootKey: "kw_root",
      fetch: async () => {
        await new Promise((r) => setTimeout(r, 300));
        return new Response(JSON.stringify({ valid: false, code: "NOT_FOUND" }), {
          status: 200,
          headers: { "content-type": "application/json" },
        });
      },
    });
    const app = express();
    // A request timeout in front (what connect-timeout / express-timeout-handler do): answers 503 after 50 ms.
    app.use((_req, res, next) => {
      setTimeout(() => {
        if (!res.headersSent) res.status(503).json({ error: "timeout" });
      }, 50);
      next();
    });
    app.get("/x", keywardExpress(verifier), (_req, res) => {
      if (!res.headersSent) res.json({ ok: true });
    });
    s = http.createServer(app);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => s.close(() => r()));
    process.off("unhandledRejection", onUnhandled);
  });

  it("does not leave an unhandled rejection when the response was already sent", async () => {
    const res = await fetch(`${url}/x`, { headers: { authorization: "Bearer kw_whatever" } });
    expect(res.status).toBe(503); // the timeout middleware's answer
    await new Promise((r) => setTimeout(r, 600)); // the verification finishes and refuses
    expect(unhandled.map((e) => (e as { code?: string }).code ?? String(e))).toEqual([]);
  });
});

describe("Keyward refusing the verifier's own credential", () => {
  /** Keyward refusing the verifier's own credential, as it does for a revoked or unprivileged root key. */
  const keywardSays = (status: 401 | 403) =>
    new Verifier({
      baseUrl: "http://keyward.invalid",
      rootKey: "kw_root_revoked",
      fetch: async () =>
        new Response(
          JSON.stringify(
            status === 401
              ? {
                  type: "about:blank",
                  title: "Unauthorized",
                  status,
                  detail: "Invalid API key",
                  code: "UNAUTHENTICATED",
                }
              : {
                  type: "about:blank",
                  title: "Forbidden",
                  status,
                  detail: "Missing permission iam:apikeys:verify (held only in the operator organization)",
                  code: "FORBIDDEN",
                },
          ),
          { status, headers: { "content-type": "application/problem+json" } },
        ),
    });

  const closers: (() => Promise<void>)[] = [];
  const urls: Record<string, string> = {};
  beforeAll(async () => {
    for (const status of [401, 403] as const) {
      const e = express();
      e.get("/x", keywardExpress(keywardSays(status)), (_q, res) => res.json({ ok: true }));
      const s = http.createServer(e);
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
      urls[`express${status}`] = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      closers.push(() => new Promise((r) => s.close(() => r())));
      const f = Fastify();
      f.get("/x", { preHandler: keywardFastify(keywardSays(status)) }, async () => ({ ok: true }));
      await f.listen({ port: 0, host: "127.0.0.1" });
      urls[`fastify${status}`] = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
      closers.push(() => f.close());
    }
  });
  afterAll(async () => {
    for (const c of closers) await c();
  });

  describe.each(["express", "fastify"])("%s", (fw) => {
    it.each([401, 403])("answers 500, not %i, when Keyward refuses the verifier's own credential", async (status) => {
      const res = await fetch(`${urls[`${fw}${status}`]}/x`, { headers: { authorization: "Bearer kw_clientkey" } });
      const body = await res.text();
      expect(`${res.status} ${body.slice(0, 140)}`).toMatch(/^500/);
    });
  });
});

describe("a verifier for offline tokens only", () => {
  it("refuses (401) a non-token credential instead of answering 503 'Keyward unavailable'", async () => {
    let calls = 0;
    const verifier = createVerifier({
      baseUrl: "http://keyward.invalid",
      tokens: { offline: true },
      fetch: async () => {
        calls++;
        throw new Error("no network in this test");
      },
    });
    for (const credential of ["garbage", "kw_3kTq9notarealkeyxxxxxxxxxxxxxxxxxxxx"]) {
      const out = await authenticateRequest(verifier, { headers: { authorization: `Bearer ${credential}` } });
      expect(calls).toBe(0); // Keyward was never asked
      if (out.ok) throw new Error("expected a refusal");
      expect({ credential, status: out.refusal.status, code: out.refusal.body.code }).toEqual({
        credential,
        status: 401,
        code: "UNAUTHENTICATED",
      });
    }
  });
});

describe("cached answers", () => {
  it("are frozen: no handler can change what the next request with the same key is told", async () => {
    let calls = 0;
    const verifier = createVerifier({
      baseUrl: "http://keyward.invalid",
      rootKey: "kw_root",
      fetch: async () => {
        calls++;
        const answer = { valid: true, keyId: "key_1", orgId: "org_1", owner: { type: "user", id: "usr_1" } };
        return Response.json({ ...answer, permissions: ["compute:read"], expiresAt: null });
      },
    });
    const first = await verifier.verify("kw_client");
    const again = await verifier.verify("kw_client");
    expect(calls).toBe(1);
    expect(again).toEqual(first);
    if (!again.valid) throw new Error("expected valid");
    expect(Object.isFrozen(again) && Object.isFrozen(again.permissions)).toBe(true);
    expect(() => (again.permissions as string[]).push("compute:delete")).toThrow(TypeError);
  });
});
