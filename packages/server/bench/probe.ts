/**
 * The benchmark's latency probe, run as a process of its own (`bench/run.ts` starts it): a
 * small heap that no seeding, no autocannon and no in-process Keyward has grown, so its own
 * pauses stay out of the latencies it measures. It reports its own event-loop delay too.
 *
 * Open loop: requests leave at a steady pace (every millisecond, rate/1000 of them) over
 * keep-alive sockets, whatever the answers do. autocannon's `overallRate` sends each second's
 * quota in a burst at the start of the second, which measures burst draining, not latency at
 * a given load.
 *
 * Input: one JSON argument {url, path, token?, keysFile?, rate, seconds, warmupMs}; keysFile
 * holds a JSON array of keys, one drawn at random per request. Output: one JSON line
 * {rps, total, p50, p99, errors, loopP99, loopMax} (milliseconds).
 */
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";

const o: {
  url: string;
  path: string;
  token?: string;
  keysFile?: string;
  rate: number;
  seconds: number;
  warmupMs: number;
} = JSON.parse(process.argv[2]);
const keys: string[] | null = o.keysFile ? JSON.parse(readFileSync(o.keysFile, "utf8")) : null;
const fixedBody = JSON.stringify({ key: "x" });

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const { hostname, port } = new URL(o.url);
const latencies: number[] = [];
let errors = 0;
let inFlight = 0;
const start = performance.now();
// The first warmupMs open the sockets and warm the JIT of both ends: not counted.
const counted = start + o.warmupMs;

const one = () =>
  new Promise<void>((resolve) => {
    const body = keys ? JSON.stringify({ key: keys[randomInt(keys.length)] }) : fixedBody;
    const t0 = performance.now();
    inFlight++;
    const req = http.request(
      {
        agent,
        hostname,
        port,
        path: o.path,
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          inFlight--;
          if (res.statusCode !== 200) errors++;
          if (t0 >= counted) latencies.push(performance.now() - t0);
          resolve();
        });
      },
    );
    req.on("error", () => {
      inFlight--;
      errors++;
      resolve();
    });
    req.end(body);
  });

const loop = monitorEventLoopDelay({ resolution: 1 });
const pending: Promise<void>[] = [];
let sent = 0;
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const elapsed = performance.now() - start;
    if (elapsed >= o.warmupMs) loop.enable(); // (once on, enable() does nothing)
    if (elapsed >= o.warmupMs + o.seconds * 1000) {
      clearInterval(timer);
      resolve();
      return;
    }
    // Catch up to the schedule (timers drift); never more than 1,000 in flight.
    const due = Math.floor((elapsed / 1000) * o.rate);
    while (sent < due && inFlight < 1000) {
      pending.push(one());
      sent++;
    }
  }, 1);
});
loop.disable();
await Promise.all(pending);
agent.destroy();
latencies.sort((a, b) => a - b);
const round = (ms: number) => Math.round(ms * 100) / 100;
const q = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]);
process.stdout.write(
  `${JSON.stringify({
    rps: latencies.length / o.seconds,
    total: latencies.length,
    p50: q(0.5),
    p99: q(0.99),
    errors,
    loopP99: round(loop.percentile(99) / 1e6),
    loopMax: round(loop.max / 1e6),
  })}\n`,
);
