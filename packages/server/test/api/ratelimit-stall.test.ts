import net from "node:net";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { REDIS_COMMAND_TIMEOUT_MS } from "../../src/services/ratelimit/index.js";
import { Harness } from "../harness.js";
import { mkKey } from "./key-helpers.js";
import { verifierKey, verify } from "./verify-helpers.js";

// Without Redis these are skipped locally only: global-setup.ts says so loudly, and with
// CI=true it fails the run instead, so CI never passes by skipping them.
const describeRedis = inject("redisAvailable") ? describe : describe.skip;

/**
 * A TCP proxy in front of Redis that can stall: paused, it keeps every socket open and
 * accepts new ones but forwards nothing (what it holds is forwarded on resume, as a Redis
 * that was merely slow would still execute it; a side that closes drops its pair).
 */
class StallableProxy {
  private paused = false;
  private readonly pipes = new Set<{ flush: () => void; destroy: () => void }>();

  private constructor(
    private readonly server: net.Server,
    readonly url: string,
  ) {}

  static async start(target: URL): Promise<StallableProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    const proxy = new StallableProxy(server, `redis://127.0.0.1:${port}`);
    server.on("connection", (client) => proxy.accept(client, target));
    return proxy;
  }

  private accept(client: net.Socket, target: URL) {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    const held: [net.Socket, Buffer][] = [];
    const forward = (to: net.Socket) => (chunk: Buffer) => {
      if (this.paused) held.push([to, chunk]);
      else to.write(chunk);
    };
    const pipe = {
      flush: () => {
        for (const [to, chunk] of held.splice(0)) if (!to.destroyed) to.write(chunk);
      },
      destroy: () => {
        held.length = 0;
        client.destroy();
        upstream.destroy();
        this.pipes.delete(pipe);
      },
    };
    this.pipes.add(pipe);
    client.on("data", forward(upstream));
    upstream.on("data", forward(client));
    for (const s of [client, upstream]) {
      s.on("error", () => {});
      s.on("close", pipe.destroy);
    }
  }

  pause() {
    this.paused = true;
  }

  resume() {
    this.paused = false;
    for (const p of this.pipes) p.flush();
  }

  async close() {
    for (const p of [...this.pipes]) p.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** `p`, or a failure naming `what` once `ms` pass without an answer. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describeRedis("per-key rate limits when Redis stalls", () => {
  let proxy: StallableProxy;
  let h: Harness;
  let probe: Redis;

  beforeEach(async () => {
    proxy = await StallableProxy.start(new URL(inject("redisUrl")));
    probe = new Redis(inject("redisUrl"));
    h = await Harness.init("sqlite", { KEYWARD_REDIS_URL: proxy.url });
  });
  afterEach(async () => {
    // The proxy goes first: a client stuck on it is then released, and can close.
    await proxy.close();
    await h.close();
    await probe.quit();
  });

  it("falls back to the node's memory limiter while Redis stalls, then counts in Redis again", async () => {
    expect(h.kw.services.verify.rateLimiter.kind).toBe("redis");
    const verifier = await verifierKey(h);
    const org = await h.newOrgWithOwner("stall");
    const mk = (name: string, limit: number) =>
      mkKey(h, org.token, org.orgId, { name, ratelimit: { limit, windowSeconds: 120 } });
    const k = await mk("limited", 3);
    const probeKey = await mk("probe", 1000);
    /** The key's shared counter, straight from Redis (null: none). */
    const counter = async (id: string) => {
      const names = await probe.keys(`kw:rl:*${id}`);
      expect(names.length).toBeLessThanOrEqual(1);
      return names.length ? Number(await probe.get(names[0])) : null;
    };
    // Each answers within the command timeout, plus room for a slow machine.
    const check = (secret: string, what: string) =>
      within(REDIS_COMMAND_TIMEOUT_MS + 2000, what, verify(h, verifier, { key: secret }));

    // Healthy: counted in Redis.
    expect((await check(k.secret, "healthy verify")).body).toMatchObject({ valid: true, ratelimit: { remaining: 2 } });
    expect(await counter(k.id)).toBe(1);

    // Stalled: every verification is answered promptly by the node's own (insurance) limiter,
    // which counts this key from zero and holds it to its limit.
    proxy.pause();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await check(k.secret, `stalled verify #${i + 1}`)).body);
    expect(answers.slice(0, 3)).toEqual([
      expect.objectContaining({ valid: true, ratelimit: expect.objectContaining({ remaining: 2 }) }),
      expect.objectContaining({ valid: true, ratelimit: expect.objectContaining({ remaining: 1 }) }),
      expect.objectContaining({ valid: true, ratelimit: expect.objectContaining({ remaining: 0 }) }),
    ]);
    expect(answers[3]).toMatchObject({ valid: false, code: "RATE_LIMITED" });

    // Redis answers again: once the client has reconnected, verification counts there again.
    proxy.resume();
    const deadline = Date.now() + 10_000;
    while ((await counter(probeKey.id)) === null) {
      if (Date.now() > deadline) throw new Error("the limiter never went back to Redis");
      await check(probeKey.secret, "probe verify");
      await new Promise((r) => setTimeout(r, 50));
    }
    // The increment that timed out was not replayed: the shared count is where it was.
    expect(await counter(k.id)).toBe(1);
    expect((await check(k.secret, "verify after recovery")).body).toMatchObject({
      valid: true,
      ratelimit: { remaining: 1 },
    });
    expect(await counter(k.id)).toBe(2);
  });
});
