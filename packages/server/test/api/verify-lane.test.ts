import { once } from "node:events";
import { createConnection } from "node:net";
import { afterEach, beforeEach, expect, it } from "vitest";
import { generateSecret } from "../../src/domain/keys/secret.js";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey } from "./key-helpers.js";
import { scrape } from "./metrics-helpers.js";
import { mkVerifier } from "./verify-helpers.js";

/**
 * Over a socket, POST /v1/verify is answered in front of Fastify (src/http/verify-lane.ts).
 * These tests hold it to the Fastify route: the same answers for the same requests, errors
 * included, the same request ids, metrics, client IP and usage. (verify.test.ts runs its
 * whole suite over both transports as well.)
 */
describeEachDialect("POST /v1/verify over HTTP (the lane)", (dialect) => {
  let h: Harness;
  /** Requests Fastify itself answered (its onResponse hooks ran). */
  let seenByFastify: number;
  let verifier: { id: string; secret: string };
  let customer: { token: string; orgId: string };

  async function start(env: Record<string, string> = {}) {
    h = await Harness.init(dialect, env);
    seenByFastify = 0;
    h.app.addHook("onResponse", (_req, _reply, done) => {
      seenByFastify++;
      done();
    });
    await h.listen();
  }

  /** POST /v1/verify over the socket; `body` as is when a string. */
  const post = (token: string | null, body: unknown) =>
    h.req("POST", "/v1/verify", {
      ...(token ? { token } : {}),
      ...(typeof body === "string" ? { payload: body, headers: { "content-type": "application/json" } } : { body }),
    });

  /** Lets the onResponse hooks of answers already given run (they follow the answer). */
  const settled = () => new Promise((resolve) => setTimeout(resolve, 5));

  /** The same request through Fastify's route (inject). */
  async function injected(token: string | null, body: unknown) {
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/verify",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.statusCode, headers: res.headers, body: res.json() };
  }

  const withoutRequestId = (b: Record<string, unknown>) => {
    const { requestId, ...rest } = b;
    return rest;
  };

  beforeEach(async () => {
    await start();
    verifier = await mkVerifier(h);
    customer = await h.newOrgWithOwner("customer");
  });
  afterEach(async () => h.close());

  it("answers a verifier's requests without Fastify, and leaves session callers to it", async () => {
    const k = await mkKey(h, customer.token, customer.orgId, { name: "ci", permissions: ["compute:read"] });
    await settled();
    const before = seenByFastify;
    for (let i = 0; i < 3; i++) {
      const res = await post(verifier.secret, { key: k.secret, permissions: ["compute:read"] });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ valid: true, keyId: k.id, orgId: customer.orgId });
      expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    }
    await settled();
    expect(seenByFastify).toBe(before);
    // A session token (and so cookies and CSRF) stays Fastify's; so does a missing credential.
    expect((await post(customer.token, { key: k.secret })).status).toBe(403);
    expect((await post(null, { key: k.secret })).status).toBe(401);
    await settled();
    expect(seenByFastify).toBe(before + 2);
  });

  it("gives the route's answers, errors included, for the same requests", async () => {
    const k = await mkKey(h, customer.token, customer.orgId, { name: "ci", permissions: ["compute:read"] });
    const plain = await mkKey(h, customer.token, customer.orgId, { name: "plain" });
    // Exchanged tokens: as the caller's credential (resolved asynchronously) and as the key verified.
    const exchange = async (apikey: string) => {
      const res = await h.req("POST", "/v1/token", {
        body: { grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey },
      });
      expect(res.status).toBe(200);
      return res.body.access_token as string;
    };
    const verifierToken = await exchange(verifier.secret);
    const keyToken = await exchange(k.secret);
    const cases: [string | null, unknown][] = [
      [verifierToken, { key: k.secret }],
      [verifierToken, "{not json"],
      [verifier.secret, { key: keyToken }],
      [verifier.secret, { key: keyToken, permissions: ["storage:delete"] }],
      [verifier.secret, { key: k.secret }],
      [verifier.secret, { key: k.secret, permissions: ["storage:delete"] }],
      [verifier.secret, { key: generateSecret("kw").secret }],
      [verifier.secret, { key: "not-a-key" }],
      [verifier.secret, "{not json"],
      [verifier.secret, "null"],
      [verifier.secret, `\ufeff${JSON.stringify({ key: "kw_x" })}`],
      [verifier.secret, '{"key":"kw_x","__proto__":{"admin":true}}'],
      [verifier.secret, '{"key":"kw_x","constructor":{"prototype":{}}}'],
      [verifier.secret, {}],
      [verifier.secret, { key: k.secret, extra: 1 }],
      [verifier.secret, { key: k.secret, ip: "not-an-ip" }],
      [verifier.secret, { key: k.secret, permissions: "compute:read" }],
      [verifier.secret, { key: "x".repeat(5000) }],
      [plain.secret, { key: k.secret }],
      [generateSecret("kw").secret, { key: k.secret }],
      [`${verifier.secret}x`, "{not json"],
    ];
    for (const [token, body] of cases) {
      const label = `${token === verifier.secret ? "verifier" : token?.slice(0, 8)} ${String(JSON.stringify(body)).slice(0, 50)}`;
      await settled();
      const before = seenByFastify;
      const lane = await post(token, body);
      await settled();
      expect(seenByFastify, `${label}: answered by the lane`).toBe(before);
      const route = await injected(token, body);
      expect(lane.status, label).toBe(route.status);
      expect(lane.headers["content-type"], label).toBe(route.headers["content-type"]);
      expect(withoutRequestId(lane.body), label).toEqual(withoutRequestId(route.body));
      if (lane.status !== 200) expect(lane.body.requestId, label).toBe(lane.headers["x-request-id"]);
    }
    // A body that cannot be parsed ends the connection, whichever answers it (a session caller's
    // request is Fastify's).
    for (const token of [verifier.secret, customer.token]) {
      const res = await post(token, '{"key":"kw_x","__proto__":{}}');
      expect(res.status).toBe(400);
      expect(res.headers.connection, token === verifier.secret ? "lane" : "Fastify").toBe("close");
    }
  });

  it("reads a body that arrives in pieces, a character split between them", async () => {
    const k = await mkKey(h, customer.token, customer.orgId, { name: "ci", permissions: ["compute:read"] });
    const port = (h.app.server.address() as { port: number }).port;
    /** Sends the head, then the body's bytes cut at the byte offsets `cuts`, a pause between pieces. */
    const inPieces = async (body: string, cuts: number[]) => {
      const bytes = Buffer.from(body, "utf8");
      const socket = createConnection({ port, host: "127.0.0.1" });
      socket.setNoDelay(true);
      await once(socket, "connect");
      let received = "";
      socket.on("data", (d) => {
        received += d.toString("latin1");
      });
      socket.write(
        `POST /v1/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${verifier.secret}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`,
      );
      let from = 0;
      for (const cut of [...cuts, bytes.length]) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        socket.write(bytes.subarray(from, cut));
        from = cut;
      }
      await once(socket, "close");
      const [head, text] = received.split("\r\n\r\n");
      return { status: Number(head.split(" ")[1]), body: JSON.parse(Buffer.from(text, "latin1").toString("utf8")) };
    };
    await settled();
    const before = seenByFastify;
    // The key cut in three.
    const whole = JSON.stringify({ key: k.secret });
    const split = await inPieces(whole, [5, 20]);
    expect(split).toEqual({ status: 200, body: expect.objectContaining({ valid: true, keyId: k.id }) });
    // "é" is two bytes: the first piece ends between them. The permission is 200 characters, the
    // most the body allows: decoded as two replacement characters it would be one too many (400).
    const accented = JSON.stringify({ key: k.secret, permissions: [`café:${"x".repeat(195)}`] });
    const cut = Buffer.from(accented).indexOf(Buffer.from("é")) + 1;
    const lane = await inPieces(accented, [cut]);
    await settled();
    expect(seenByFastify).toBe(before);
    const route = await injected(verifier.secret, accented);
    expect(route.status).toBe(200);
    expect(lane).toEqual({ status: 200, body: route.body });
  });

  it("gives every answer its own request id, in the same series as Fastify's", async () => {
    const k = await mkKey(h, customer.token, customer.orgId, { name: "ci" });
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++)
      ids.add((await post(verifier.secret, { key: k.secret })).headers["x-request-id"] as string);
    const fromFastify = (await h.req("GET", "/healthz")).headers["x-request-id"] as string;
    ids.add(fromFastify);
    expect(ids.size).toBe(6);
    for (const id of ids) expect(id.slice(0, 16)).toBe(fromFastify.slice(0, 16));
  });

  it("counts its answers in the request metrics", async () => {
    const k = await mkKey(h, customer.token, customer.orgId, { name: "ci" });
    const count = async (status: number) =>
      (await scrape(h))(`keyward_http_requests_total{method="POST",route="/v1/verify",status="${status}"}`);
    const [ok, bad] = [await count(200), await count(400)];
    for (let i = 0; i < 4; i++) await post(verifier.secret, { key: k.secret });
    await post(verifier.secret, { key: k.secret, extra: true });
    expect(await count(200)).toBe(ok + 4);
    expect(await count(400)).toBe(bad + 1);
  });

  it("closes the connection of an answer given while the server shuts down", async () => {
    const k = await mkKey(h, customer.token, customer.orgId, { name: "ci" });
    // Hold the key's first load until shutdown has begun.
    const loader = (h.kw.services.verify as unknown as { loader: { byHash: (x: string) => Promise<unknown> } }).loader;
    const load = loader.byHash.bind(loader);
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached = () => {};
    const inLane = new Promise<void>((resolve) => {
      reached = resolve;
    });
    loader.byHash = async (hash) => {
      reached();
      await gate;
      return load(hash);
    };
    const answer = post(verifier.secret, { key: k.secret });
    await inLane;
    const closed = h.app.close();
    await settled();
    release();
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body.valid).toBe(true);
    expect(res.headers.connection).toBe("close");
    await closed;
  });

  it("counts each use of the caller's own key once", async () => {
    const k = await mkKey(h, customer.token, customer.orgId, { name: "ci" });
    for (let i = 0; i < 3; i++) await post(verifier.secret, { key: k.secret });
    await post(verifier.secret, "{not json");
    await h.kw.services.verify.usage.flush(true);
    const owner = await h.login();
    const usage = await h.req("GET", `/v1/api-keys/${verifier.id}/usage`, { token: owner });
    expect(usage.status).toBe(200);
    expect(usage.body.total).toBe(4);
    expect(usage.body.lastUsedIp).toBe("127.0.0.1");
  });
});

describeEachDialect("POST /v1/verify over HTTP behind a proxy", (dialect) => {
  let h: Harness;
  afterEach(async () => h.close());

  /** A verifier pinned to 203.0.113.5, asked through a socket from 127.0.0.1. */
  async function pinnedVerifier(env: Record<string, string>) {
    h = await Harness.init(dialect, env, undefined, "http");
    const v = await mkVerifier(h, { allowedIps: ["203.0.113.5"] });
    const owner = await h.login();
    const key = await mkKey(h, owner, h.operatorOrgId, { name: "checked" });
    return (xff?: string) =>
      h.req("POST", "/v1/verify", {
        token: v.secret,
        body: { key: key.secret },
        headers: xff ? { "x-forwarded-for": xff } : {},
      });
  }

  it("believes X-Forwarded-For only from a trusted proxy, as Fastify's req.ip does", async () => {
    const ask = await pinnedVerifier({ KEYWARD_TRUSTED_PROXIES: "127.0.0.1" });
    expect((await ask("203.0.113.5")).body.valid).toBe(true);
    expect((await ask()).status).toBe(401);
    // A client cannot spoof through the proxy: the peer the proxy appends wins.
    expect((await ask("203.0.113.5, 198.51.100.7")).status).toBe(401);
  });

  it("ignores X-Forwarded-For without trusted proxies", async () => {
    const ask = await pinnedVerifier({});
    expect((await ask("203.0.113.5")).status).toBe(401);
  });
});
