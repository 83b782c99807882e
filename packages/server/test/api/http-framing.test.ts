import { once } from "node:events";
import { createConnection } from "node:net";
import { afterEach, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";
import { mkKey } from "./key-helpers.js";
import { mkVerifier } from "./verify-helpers.js";

/**
 * What Node's HTTP parser refuses before the verify lane or Fastify sees a request (bad framing,
 * a request that does not arrive in time) is answered like every other error: problem+json with
 * a request id, and the connection closed. A client that stops in the middle of its body holds
 * nothing for long: not the request, not a shutdown.
 */
describeEachDialect("HTTP framing and slow requests", (dialect) => {
  let h: Harness;
  afterEach(async () => h?.close());

  /** A listening Keyward (request timeout `timeoutMs`), a verifier's key and a verify body. */
  async function start(timeoutMs = 30_000) {
    h = await Harness.init(dialect, { KEYWARD_REQUEST_TIMEOUT_MS: String(timeoutMs) }, undefined, "http");
    const verifier = (await mkVerifier(h)).secret;
    const key = (await mkKey(h, await h.login(), h.operatorOrgId, { name: "k" })).secret;
    const port = (h.app.server.address() as { port: number }).port;
    const head = (path: string, extra: string) =>
      `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${verifier}\r\nContent-Type: application/json\r\n${extra}\r\n`;
    return { port, head, body: JSON.stringify({ key }) };
  }

  /** Writes `bytes` on a new connection; resolves with what came back once the server closes it. */
  async function exchange(port: number, bytes: string) {
    const socket = createConnection({ port, host: "127.0.0.1" });
    await once(socket, "connect");
    let received = "";
    socket.on("data", (d) => {
      received += d.toString("latin1");
    });
    socket.on("error", () => {});
    socket.write(bytes);
    await once(socket, "close");
    const [top, body] = received.split("\r\n\r\n");
    const lines = top.split("\r\n");
    const headers = Object.fromEntries(
      lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
    );
    return { status: Number(lines[0].split(" ")[1]), headers, body: JSON.parse(body) };
  }

  it("answers framing it cannot read with problem+json and closes the connection", async () => {
    const { port, head, body } = await start();
    const cases: Record<string, string> = {
      "a chunk size that is no number": `${head("/v1/verify", "Transfer-Encoding: chunked\r\n")}zz\r\n${body}\r\n0\r\n\r\n`,
      "Content-Length beside chunked": `${head("/v1/verify", `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`)}0\r\n\r\n`,
      "Content-Length twice": `${head("/v1/verify", `Content-Length: ${body.length}\r\nContent-Length: 3\r\n`)}${body}`,
      "elsewhere than verify": `${head("/v1/orgs", `Content-Length: ${body.length}\r\nContent-Length: 3\r\n`)}${body}`,
    };
    for (const [label, bytes] of Object.entries(cases)) {
      const res = await exchange(port, bytes);
      expect(res.status, label).toBe(400);
      expect(res.headers["content-type"], label).toBe("application/problem+json; charset=utf-8");
      expect(res.body, label).toMatchObject({ status: 400, code: "INVALID_REQUEST" });
      expect(res.body.requestId, label).toBe(res.headers["x-request-id"]);
    }
  });

  for (const path of ["/v1/verify", "/v1/verify?"])
    it(`answers 408 to a body that stops coming, and shuts down without waiting for it (${path})`, async () => {
      const { port, head, body } = await start(1000);
      const started = Date.now();
      const res = await exchange(port, `${head(path, `Content-Length: ${body.length}\r\n`)}${body.slice(0, 5)}`);
      expect(res).toMatchObject({ status: 408, body: { code: "REQUEST_TIMEOUT" } });
      expect(Date.now() - started).toBeLessThan(5_000);
      // A second one, stalled while the server closes: the close does not wait for it for long.
      const stalled = createConnection({ port, host: "127.0.0.1" });
      stalled.on("error", () => {});
      await once(stalled, "connect");
      stalled.write(`${head(path, `Content-Length: ${body.length}\r\n`)}${body.slice(0, 5)}`);
      const closing = Date.now();
      await h.app.close();
      expect(Date.now() - closing).toBeLessThan(5_000);
      stalled.destroy();
    });
});
