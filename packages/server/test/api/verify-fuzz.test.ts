import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness } from "../harness.js";
import { verifierKey } from "./verify-helpers.js";

/** The verification and token endpoints answer any input with a decision or a 4xx, never a 500. */
describe("verify and token input fuzzing", () => {
  let h: Harness;
  let verifier: string;
  beforeAll(async () => {
    h = await Harness.init("sqlite");
    verifier = await verifierKey(h);
  });
  afterAll(async () => h.close());

  const send = (url: string, contentType: string, payload: string, token?: string) =>
    h.app.inject({
      method: "POST",
      url,
      headers: { "content-type": contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload,
    });

  const jsonish = fc.oneof(
    fc.json(),
    fc.string(),
    fc
      .record({
        key: fc.oneof(
          fc.string(),
          fc.constant("kw_"),
          fc.stringMatching(/^kw_[0-9A-Za-z]{38}$/),
          fc.stringMatching(/^eyJ[\w-]{0,40}\.[\w-]{0,40}\.[\w-]{0,40}$/),
        ),
        permissions: fc.option(fc.array(fc.string(), { maxLength: 5 }), { nil: undefined }),
        projectId: fc.option(fc.string(), { nil: undefined }),
        ip: fc.option(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), { nil: undefined }),
        method: fc.option(fc.string(), { nil: undefined }),
      })
      .map((o) => JSON.stringify(o)),
  );

  it("POST /v1/verify", async () => {
    await fc.assert(
      fc.asyncProperty(jsonish, async (payload) => {
        const res = await send("/v1/verify", "application/json", payload, verifier);
        expect(res.statusCode).toBeLessThan(500);
        if (res.statusCode === 200) expect(typeof JSON.parse(res.body).valid).toBe("boolean");
      }),
      { numRuns: 150 },
    );
  });

  it("POST /v1/token (JSON and form)", async () => {
    const form = fc.oneof(
      fc.string(),
      fc
        .dictionary(fc.constantFrom("grant_type", "apikey", "scope", "projectId", "expires_in", "x"), fc.string())
        .map((d) => new URLSearchParams(d).toString()),
    );
    await fc.assert(
      fc.asyncProperty(fc.boolean(), jsonish, form, async (useForm, json, formBody) => {
        const res = useForm
          ? await send("/v1/token", "application/x-www-form-urlencoded", formBody)
          : await send("/v1/token", "application/json", json);
        expect(res.statusCode).toBeLessThan(500);
      }),
      { numRuns: 150 },
    );
  });

  it("POST /v1/token/introspect", async () => {
    await fc.assert(
      fc.asyncProperty(jsonish, async (payload) => {
        const res = await send("/v1/token/introspect", "application/json", payload, verifier);
        expect(res.statusCode).toBeLessThan(500);
      }),
      { numRuns: 100 },
    );
  });
});
