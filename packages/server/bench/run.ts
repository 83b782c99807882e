/**
 * `npm run bench`: seeds 100,000 keys, starts Keyward and a bare Fastify server, and prints
 * the verification figures (see bench/RESULTS.md). Not part of `npm test`; about 3-4 minutes.
 * Options (env): BENCH_KEYS (100000), BENCH_SECONDS (8), BENCH_CONNECTIONS (32), BENCH_PG_KEYS (20000),
 * BENCH_COLD_SECONDS (40: the SQLite cold pass stops there; the warm runs then draw from the keys it reached),
 * BENCH_NO_FLUSH=1 (no periodic usage flush in the server: shows what the flush costs the tail),
 * BENCH_FLUSH_MID=1 (each Keyward latency run also writes all usage halfway through: a flush's worst case),
 * BENCH_ROUNDS (3: verify and hello-world are measured in turns this many times; medians are printed).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import autocannon from "autocannon";
import pg from "pg";
import { createKeyward } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { randomBase62 } from "../src/domain/ids.js";
import { seed } from "./seed.js";

const here = import.meta.dirname;
const serverDir = path.resolve(here, "..");
const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const PG_KEYS = Number(process.env.BENCH_PG_KEYS ?? 20_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const COLD_SECONDS = Number(process.env.BENCH_COLD_SECONDS ?? 40);
const WARMUP_MS = 2000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const PG_URL = process.env.KEYWARD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SECRET = "bench-secret-bench-secret-bench-secret-0123456789";
const fixture = path.join(serverDir, "test/fixtures/keyward.config.json");

const log = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const shuffle = <T>(a: T[]) => {
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
};

function env(dir: string, extra: Record<string, string>) {
  return {
    KEYWARD_DATA_DIR: dir,
    KEYWARD_SECRET: SECRET,
    KEYWARD_ADMIN_EMAIL: "owner@example.com",
    KEYWARD_ADMIN_PASSWORD: "owner-password-123",
    KEYWARD_CONFIG: fixture,
    KEYWARD_LOG_LEVEL: "warn",
    KEYWARD_HOST: "127.0.0.1",
    // Room for every seeded key and the verifier's: the warm runs draw from all of them.
    KEYWARD_CACHE_KEYS: String(KEYS + 1000),
    ...extra,
  };
}

/**
 * The Node flags `npm start` runs Keyward with (the root package.json's start script): both
 * servers of the benchmark run with them, so it measures what a deployment runs.
 */
function startFlags(): string[] {
  const start: string = JSON.parse(readFileSync(path.join(serverDir, "../../package.json"), "utf8")).scripts.start;
  const m = /^node((?: --[\w-]+=\S+)*) --import tsx /.exec(start);
  if (!m) throw new Error(`bench: cannot read the node flags of the start script: ${start}`);
  return m[1].split(" ").filter(Boolean);
}
const NODE_FLAGS = startFlags();

let nextPort = 18_000 + randomInt(2000);
async function startChild(
  script: string,
  childEnv: Record<string, string>,
): Promise<{ url: string; child: ChildProcess }> {
  const port = nextPort++;
  const child = spawn(process.execPath, [...NODE_FLAGS, "--import", "tsx", script], {
    cwd: serverDir,
    env: { ...process.env, ...childEnv, KEYWARD_PORT: String(port), PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${script} exited ${code}`)));
    child.stdout?.on("data", (d) => String(d).includes("ready") && resolve());
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

async function stopChild(c: { child: ChildProcess }) {
  const exited = new Promise((r) => c.child.once("exit", r));
  c.child.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (c.child.exitCode === null) c.child.kill("SIGKILL");
}

interface LoadOpts {
  url: string;
  path: string;
  token?: string;
  /** Picks the key of each request. */
  nextKey?: () => string;
  seconds?: number;
  amount?: number;
  overallRate?: number;
  connections?: number;
}

async function load(o: LoadOpts) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let sent = 0;
  /** When the first request and the `amount`-th were set up (ms). */
  let firstAt = 0;
  let amountAt = 0;
  let instance: { stop(): void } | null = null;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: o.url,
        connections: o.connections ?? CONNECTIONS,
        pipelining: 1,
        duration: o.seconds ?? SECONDS,
        ...(o.overallRate ? { overallRate: o.overallRate } : {}),
        requests: [
          {
            method: "POST",
            path: o.path,
            headers,
            setupRequest: (req) => {
              // `amount` would override the duration: stop by hand at whichever comes first.
              // autocannon stops at its next one-second tick, so what it sends after the
              // `amount`-th request (repeats) is left out of the figures below.
              if (++sent === 1) firstAt = performance.now();
              if (sent === o.amount) {
                amountAt = performance.now();
                setImmediate(() => instance?.stop());
              }
              return { ...req, body: JSON.stringify({ key: o.nextKey ? o.nextKey() : "x" }) };
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  const seconds = result.duration;
  return {
    rps: amountAt ? (o.amount as number) / ((amountAt - firstAt) / 1000) : result.requests.total / seconds,
    total: amountAt ? (o.amount as number) : result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/**
 * Latency at a given load, from bench/probe.ts in a process of its own (see there): `keysFile`
 * holds the keys to draw from (none: hello-world's body).
 */
async function paced(
  pid: number | undefined,
  o: { url: string; path: string; token?: string; keysFile?: string; rate: number },
) {
  const args = JSON.stringify({ ...o, seconds: SECONDS, warmupMs: WARMUP_MS });
  const before = mainThreadMs(pid);
  const startedAt = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", "bench/probe.ts", args], {
    cwd: serverDir,
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (process.env.BENCH_FLUSH_MID && o.path === "/v1/verify")
    setTimeout(() => void fetch(`${o.url}/bench/flush`, { method: "POST" }), WARMUP_MS + SECONDS * 500);
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`bench/probe.ts exited ${code}`);
  const after = mainThreadMs(pid);
  const seconds = (performance.now() - startedAt) / 1000;
  const result = JSON.parse(out) as {
    rps: number;
    total: number;
    p50: number;
    p99: number;
    errors: number;
    /** The probe's own event-loop delay (ms): its own share of the tail. */
    loopP99: number;
    loopMax: number;
    /** The probe's own CPU time (ms) over its paced part. */
    cpuMs: number;
  };
  /**
   * Over the probe's whole life (`seconds`: its start and warm-up included), how long the
   * server's main thread ran, and how long it was ready to run but waited for a CPU (time the
   * machine took from it).
   */
  const ran = before && after ? after.ran - before.ran : null;
  const runQueueWait = before && after ? after.waited - before.waited : null;
  return { ...result, ran, runQueueWait, seconds };
}

/**
 * Milliseconds a process's main thread has spent on a CPU, and runnable but waiting for one,
 * so far (`/proc/<pid>/task/<pid>/schedstat`, Linux with scheduler statistics); null elsewhere.
 */
function mainThreadMs(pid: number | undefined): { ran: number; waited: number } | null {
  try {
    const [ran, waited] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ").map(Number);
    return Number.isFinite(ran) && Number.isFinite(waited) ? { ran: ran / 1e6, waited: waited / 1e6 } : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); null elsewhere. */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100)
  } catch {
    return null;
  }
}

/**
 * Runs `load` and adds the server's CPU time per request and its CPU use (share of one core).
 * `then` runs after the load and inside the CPU count (Keyward writes the run's usage there).
 */
async function measured(pid: number | undefined, o: LoadOpts, then?: () => Promise<unknown>) {
  const before = cpuSeconds(pid);
  const res = await load(o);
  await then?.();
  const after = cpuSeconds(pid);
  const cpu = before === null || after === null ? null : after - before;
  return {
    ...res,
    cpuUsPerRequest: cpu === null ? null : (cpu / res.total) * 1e6,
    cpuShare: cpu === null ? null : cpu / (o.seconds ?? SECONDS),
  };
}

async function stats(url: string) {
  return (await fetch(`${url}/bench/stats`)).json();
}

/** Checks the answers really are `valid: true` (a benchmark of 401s proves nothing). */
async function sanity(url: string, verifier: string, key: string) {
  const res = await fetch(`${url}/v1/verify`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${verifier}` },
    body: JSON.stringify({ key }),
  });
  const body = await res.json();
  if (!body.valid) throw new Error(`verify sanity check failed: ${res.status} ${JSON.stringify(body)}`);
}

/** V8's full garbage collection, callable without starting node with --expose-gc. */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc");
}

async function inProcess(dbFile: string, dir: string, secrets: string[]) {
  const config = loadConfig(env(dir, { KEYWARD_DATABASE_URL: dbFile }));
  const kw = await createKeyward(config, { logger: false });
  try {
    const v = kw.services.verify;
    const warm = secrets.slice(0, 10_000);
    // What a cached key costs: the heap's growth over the first use of 10,000 keys (the cache
    // entry, its indexes, its memo and usage tally), each side measured after a full collection.
    const gc = collector();
    await v.verify({ key: secrets[secrets.length - 1] });
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    for (const key of warm) await v.verify({ key });
    gc();
    const heapPerKey = (process.memoryUsage().heapUsed - heapBefore) / warm.length;
    const timeIt = (fn: (i: number) => unknown, ms = 2000) => {
      let n = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < ms) {
        for (let i = 0; i < 1000; i++) fn(n + i);
        n += 1000;
      }
      return (n / (performance.now() - t0)) * 1000;
    };
    // Warm verify is synchronous work behind one await; run it in awaited chunks of 1000.
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 2000) {
      const batch = [];
      for (let i = 0; i < 1000; i++) batch.push(v.verify({ key: warm[randomInt(warm.length)] }));
      await Promise.all(batch);
      n += 1000;
    }
    const verifyRate = (n / (performance.now() - t0)) * 1000;
    const pepper = kw.services.deps.pepper;
    const hmacRate = timeIt((i) =>
      createHmac("sha256", pepper)
        .update(warm[i % warm.length])
        .digest("hex"),
    );
    const misses = v.cache.stats.misses;
    return { verifyRate, hmacRate, heapPerKey, warmKeys: warm.length, missesDuringRun: misses - warm.length };
  } finally {
    await kw.close();
  }
}

async function main() {
  const started = performance.now();
  const dir = mkdtempSync(path.join(tmpdir(), "keyward-bench-"));
  const dbFile = path.join(dir, "keyward.db");
  log(
    `Keyward verification benchmark — ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 1e9)} GB, Node ${process.version}`,
  );
  log(`load: autocannon, ${CONNECTIONS} connections, pipelining 1, ${SECONDS} s per run, 127.0.0.1`);
  log(`servers: node ${NODE_FLAGS.join(" ")} (the flags of \`npm start\`), Keyward and hello-world alike`);

  log(`\nseeding ${fmt(KEYS)} keys (SQLite)…`);
  const t0 = performance.now();
  const { verifier, secrets } = await seed(loadConfig(env(dir, { KEYWARD_DATABASE_URL: dbFile })), KEYS);
  log(`  seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  log("\nin-process (warm, 10,000 keys)…");
  const ip = await inProcess(dbFile, dir, secrets);

  log("starting Keyward (SQLite) and the bare Fastify hello-world…");
  const kw = await startChild("bench/server.ts", env(dir, { KEYWARD_DATABASE_URL: dbFile }));
  const hello = await startChild("bench/hello.ts", {});
  let cold: Awaited<ReturnType<typeof load>>;
  const warms: Awaited<ReturnType<typeof measured>>[] = [];
  const hellos: Awaited<ReturnType<typeof measured>>[] = [];
  const halves: Awaited<ReturnType<typeof paced>>[] = [];
  /** Keyward's own event-loop delay (ms) during each half-peak run. */
  const loopDelays: { p99: number; max: number; gcPauses: number; gcMs: number; gcMaxMs: number }[] = [];
  const helloHalves: Awaited<ReturnType<typeof paced>>[] = [];
  let warmSet: string[] = [];
  let hotPath: {
    reads: number;
    writes: number;
    flushReads: number;
    flushWrites: number;
    verified: number;
    rssMb: number;
  };
  try {
    await sanity(kw.url, verifier, secrets[0]);
    // Cold: every key seen for the first time, in random order. This pass also warms the cache.
    const order = shuffle(secrets.slice(1));
    let i = 0;
    log(`cold-cache pass over up to ${fmt(order.length)} keys (SQLite, at most ${COLD_SECONDS} s)…`);
    cold = await load({
      url: kw.url,
      path: "/v1/verify",
      token: verifier,
      nextKey: () => order[i++ % order.length],
      amount: order.length,
      seconds: COLD_SECONDS,
    });
    warmSet = [secrets[0], ...order.slice(0, Math.min(i, order.length))];
    const random = () => warmSet[randomInt(warmSet.length)];
    // Keyward's pending usage is flushed before each hello-world run, so that a flush of
    // verify's uses never lands in hello-world's measurement. (Verify's own runs carry the
    // periodic flush every 10 s, as a server under load does.)
    const flushKeyward = () => fetch(`${kw.url}/bench/flush`, { method: "POST" });
    await flushKeyward();
    // The two servers run in turns, ROUNDS times: this machine's speed drifts within minutes,
    // so one pair of runs can land on a fast and a slow moment; the median of the pairs cannot.
    log(`warm runs (random key per request, of ${fmt(warmSet.length)} cached keys), in turns with hello-world…`);
    const before = await stats(kw.url);
    for (let r = 0; r < ROUNDS; r++) {
      // The CPU count includes writing the run's usage (the periodic flushes during the run,
      // then the rest): verify's whole cost. Flushed before hello-world's run in any case.
      warms.push(
        await measured(
          kw.child.pid,
          { url: kw.url, path: "/v1/verify", token: verifier, nextKey: random },
          flushKeyward,
        ),
      );
      hellos.push(await measured(hello.child.pid, { url: hello.url, path: "/" }));
    }
    const after = await stats(kw.url);
    // Statements the counter saw that were the usage flush's, not the verify path's.
    const counted = after.flushViaQueryBuilder ? 1 : 0;
    hotPath = {
      reads: after.reads - before.reads - counted * (after.flushReads - before.flushReads),
      writes: after.writes - before.writes - counted * (after.flushWrites - before.flushWrites),
      flushWrites: after.flushWrites - before.flushWrites,
      flushReads: after.flushReads - before.flushReads,
      verified: after.verified - before.verified,
      rssMb: after.rssMb,
    };
    const rate = Math.floor(median(warms.map((w) => w.rps)) / 2);
    log(`latency runs at half the peak (${fmt(rate)} req/s, paced open loop), in turns with hello-world…`);
    const keysFile = path.join(dir, "warm-keys.json");
    writeFileSync(keysFile, JSON.stringify(warmSet));
    for (let r = 0; r < ROUNDS; r++) {
      await fetch(`${kw.url}/bench/loop-delay`, { method: "POST" });
      halves.push(await paced(kw.child.pid, { url: kw.url, path: "/v1/verify", token: verifier, keysFile, rate }));
      loopDelays.push(await (await fetch(`${kw.url}/bench/loop-delay`, { method: "DELETE" })).json());
      await flushKeyward();
      // The same absolute rate as verify's: how much of the tail is the machine's.
      helloHalves.push(await paced(hello.child.pid, { url: hello.url, path: "/", rate }));
    }
  } finally {
    await Promise.all([stopChild(kw), stopChild(hello)]);
  }

  let pgCold: Awaited<ReturnType<typeof load>> | null = null;
  const schema = `bench_${randomBase62(8).toLowerCase()}`;
  try {
    log(`\nseeding ${fmt(PG_KEYS)} keys (PostgreSQL, schema ${schema})…`);
    const pgEnv = env(dir, { KEYWARD_DATABASE_URL: PG_URL, KEYWARD_DATABASE_SCHEMA: schema });
    const pgSeed = await seed(loadConfig(pgEnv), PG_KEYS);
    const node = await startChild("bench/server.ts", pgEnv);
    try {
      await sanity(node.url, pgSeed.verifier, pgSeed.secrets[0]);
      const order = shuffle(pgSeed.secrets.slice(1));
      let i = 0;
      log(`cold-cache pass over ${fmt(order.length)} keys (PostgreSQL)…`);
      pgCold = await load({
        url: node.url,
        path: "/v1/verify",
        token: pgSeed.verifier,
        nextKey: () => order[i++ % order.length],
        amount: order.length,
        seconds: 15,
      });
    } finally {
      await stopChild(node);
    }
  } catch (err) {
    log(`  PostgreSQL part skipped: ${(err as Error).message}`);
  } finally {
    const c = new pg.Client({ connectionString: PG_URL });
    await c
      .connect()
      .then(() => c.query(`drop schema if exists ${schema} cascade`))
      .catch(() => {});
    await c.end().catch(() => {});
  }
  rmSync(dir, { recursive: true, force: true });

  const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;
  const errs = (r: { errors: number }) => (r.errors ? `  (${r.errors} errors!)` : "");
  log("\n=== results ===");
  const ratios = warms.map((w, r) => w.rps / hellos[r].rps);
  const mid = ratios.indexOf(median(ratios));
  const warm = warms[mid];
  const helloRes = hellos[mid];
  log(
    `rounds (verify / hello-world req/s): ${warms.map((w, r) => `${fmt(w.rps)} / ${fmt(hellos[r].rps)} = ${pct(w.rps, hellos[r].rps)}`).join(";  ")}`,
  );
  log(
    `HTTP verify, warm, random key of ${fmt(warmSet.length)} (of ${fmt(KEYS)} seeded), median round:  ${fmt(warm.rps)} req/s  (p50 ${warm.p50} ms, p99 ${warm.p99} ms)${errs(warm)}`,
  );
  log(`bare Fastify hello-world, same load, same round:   ${fmt(helloRes.rps)} req/s${errs(helloRes)}`);
  log(`  ratio verify / hello-world (median of ${ROUNDS} rounds): ${pct(warm.rps, helloRes.rps)}   (target ≥ 60%)`);
  const cpu = (r: typeof warm) =>
    r.cpuUsPerRequest === null
      ? "n/a"
      : `${r.cpuUsPerRequest.toFixed(0)} µs per request, server busy ${((r.cpuShare ?? 0) * 100).toFixed(0)}% of a core`;
  log(`  server CPU, verify:                  ${cpu(warm)}   (writing its usage included)`);
  log(`  server CPU, hello-world:             ${cpu(helloRes)}`);
  if (warm.cpuUsPerRequest !== null && helloRes.cpuUsPerRequest !== null)
    log(
      `  ratio of CPU cost hello / verify:    ${pct(helloRes.cpuUsPerRequest, warm.cpuUsPerRequest)}   (the same ratio, free of the load generator's limits)`,
    );
  log(`in-process verify, warm:               ${fmt(ip.verifyRate)} calls/s`);
  log(`raw HMAC-SHA256, same process:         ${fmt(ip.hmacRate)} ops/s`);
  log(`  ratio verify / HMAC:                 ${pct(ip.verifyRate, ip.hmacRate)}   (target ≥ 40%)`);
  log(`heap per cached key (in-process, after a full GC): ${fmt(ip.heapPerKey)} bytes`);
  const p99 = (runs: { p99: number }[]) => median(runs.map((h) => h.p99));
  const p50 = (runs: { p50: number }[]) => median(runs.map((h) => h.p50));
  log(
    `latency at half peak (${fmt(halves[0].rps)} req/s, median of ${ROUNDS} runs):  p50 ${p50(halves)} ms, p99 ${p99(halves)} ms   (target p99 ≤ 2 ms)${halves.map(errs).join("")}`,
  );
  log(`  p99 of each run: ${halves.map((h) => h.p99).join(", ")} ms`);
  log(
    `  Keyward's own event-loop delay in each run (p99 / max): ${loopDelays.map((d) => `${d.p99} / ${d.max}`).join(", ")} ms   (its stalls, and the machine's below)`,
  );
  log(
    `  Keyward's GC pauses in each run (count, total / longest): ${loopDelays.map((d) => `${d.gcPauses}, ${d.gcMs} / ${d.gcMaxMs}`).join("; ")} ms   (inside the server)`,
  );
  const waited = (runs: { runQueueWait: number | null; seconds: number }[]) =>
    runs
      .map((h) => (h.runQueueWait === null ? "n/a" : `${Math.round(h.runQueueWait)} of ${h.seconds.toFixed(1)} s`))
      .join(", ");
  const busy = (runs: { ran: number | null; seconds: number }[]) =>
    runs.map((h) => (h.ran === null ? "n/a" : pct(h.ran, h.seconds * 1000))).join(", ");
  log(
    `  main thread on a CPU in each run (share of the probe's whole run): Keyward ${busy(halves)}; hello-world ${busy(helloHalves)}   (the headroom left for a slower moment of the machine)`,
  );
  log(
    `  main thread waiting for a CPU in each run (ms, over the probe's whole run): Keyward ${waited(halves)}; hello-world ${waited(helloHalves)}   (the machine's: ready to run, not running)`,
  );
  log(
    `  the probe's own event-loop delay in each run (p99 / max): ${halves.map((h) => `${h.loopP99} / ${h.loopMax}`).join(", ")} ms   (a stall in the load generator, a separate process)`,
  );
  const probeCpu = (runs: { cpuMs: number; total: number }[]) =>
    runs.map((h) => `${((h.cpuMs * 1000) / Math.max(1, h.total)).toFixed(0)}`).join(", ");
  log(
    `  the probe's own CPU per request in each run: with Keyward ${probeCpu(halves)} µs; with hello-world ${probeCpu(helloHalves)} µs   (what the load generator takes from the server's cores)`,
  );
  log(
    `  hello-world at the same rate, in turns: p50 ${p50(helloHalves)} ms, p99 ${p99(helloHalves)} ms (each: ${helloHalves.map((h) => h.p99).join(", ")} ms)   (the machine's own tail)`,
  );
  log(
    `database statements during the warm run: ${hotPath.reads} reads and ${hotPath.writes} writes on the verify path ` +
      `for ${fmt(hotPath.verified)} verifies → ${hotPath.writes / Math.max(1, hotPath.verified)} writes per verify` +
      ` (plus ${hotPath.flushReads + hotPath.flushWrites} statements of batched usage flushes, off the request path)`,
  );
  log(`server RSS with ${fmt(warmSet.length)} cached keys: ${hotPath.rssMb} MB`);
  log(
    `cold-cache verify (first sight of each key), SQLite:     ${fmt(cold.rps)} req/s over ${fmt(cold.total)} keys${errs(cold)}`,
  );
  log(
    pgCold
      ? `cold-cache verify (first sight of each key), PostgreSQL: ${fmt(pgCold.rps)} req/s over ${fmt(pgCold.total)} keys${errs(pgCold)}`
      : "cold-cache verify, PostgreSQL: skipped",
  );
  log(`\ntotal bench time ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
