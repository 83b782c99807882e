/**
 * The benchmark's latency probe, run as a process of its own (`bench/run.ts` starts it): a
 * small heap that no seeding, no autocannon and no in-process Keyward has grown, so its own
 * pauses stay out of the latencies it measures. It reports its own event-loop delay and CPU.
 *
 * Open loop: requests leave at a steady pace (every millisecond, rate/1000 of them) over
 * keep-alive connections, whatever the answers do. autocannon's `overallRate` sends each
 * second's quota in a burst at the start of the second, which measures burst draining, not
 * latency at a given load. A request's latency runs from the tick that sent it (or queued it,
 * while every connection was busy) to its answer's last byte.
 *
 * HTTP/1.1 is spoken over plain sockets, one request at a time per connection: the probe
 * shares the machine's two cores with the server, and Node's HTTP client cost as much CPU per
 * request as the server it measured (bench/RESULTS.md). Answers must carry Content-Length
 * (both servers' do); anything else stops the probe rather than mismeasure.
 *
 * Input: one JSON argument {url, path, token?, keysFile?, rate, seconds, warmupMs}; keysFile
 * holds a JSON array of keys, one drawn at random per request. Output: one JSON line
 * {rps, total, p50, p99, errors, loopP99, loopMax, cpuMs} (milliseconds; cpuMs is the probe's
 * own CPU from the end of the warm-up until the last answer).
 */
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
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
const { hostname, port } = new URL(o.url);
const MAX_CONNECTIONS = 64;
/** Requests in flight or queued at most (a server that stops answering must not grow this without end). */
const MAX_OUTSTANDING = 1000;

const head =
  `POST ${o.path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\n` +
  (o.token ? `Authorization: Bearer ${o.token}\r\n` : "");
const request = () => {
  const body = keys ? `{"key":${JSON.stringify(keys[randomInt(keys.length)])}}` : '{"key":"x"}';
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
};

const latencies: number[] = [];
let errors = 0;
const start = performance.now();
// The first warmupMs open the connections and warm the JIT of both ends: not counted.
const counted = start + o.warmupMs;

/** One keep-alive connection and the request it is waiting on. */
interface Conn {
  socket: net.Socket;
  /** When the request in flight left, or was queued (NaN: idle). */
  sentAt: number;
  /** The answer so far (only while its head is incomplete), its status, and the body bytes still to come. */
  pending: Buffer | null;
  status: number;
  bodyLeft: number;
}

const idle: Conn[] = [];
let open = 0;
/** When each request waiting for a connection was queued. */
const queue: number[] = [];
let outstanding = 0;

function fail(message: string): never {
  process.stderr.write(`bench/probe.ts: ${message}\n`);
  process.exit(1);
}

function send(c: Conn, sentAt: number) {
  c.sentAt = sentAt;
  c.socket.write(request());
}

function finished(c: Conn, status: number) {
  outstanding--;
  if (status !== 200) errors++;
  if (c.sentAt >= counted) latencies.push(performance.now() - c.sentAt);
  c.sentAt = Number.NaN;
  const next = queue.shift();
  if (next !== undefined) send(c, next);
  else idle.push(c);
}

const CRLF2 = Buffer.from("\r\n\r\n");

function onData(c: Conn, chunk: Buffer) {
  let data = c.pending ? Buffer.concat([c.pending, chunk]) : chunk;
  c.pending = null;
  while (data.length > 0) {
    if (c.bodyLeft > 0) {
      const take = Math.min(c.bodyLeft, data.length);
      c.bodyLeft -= take;
      data = data.subarray(take);
      if (c.bodyLeft === 0) finished(c, c.status);
      continue;
    }
    const end = data.indexOf(CRLF2);
    if (end < 0) {
      c.pending = data;
      return;
    }
    const text = data.toString("latin1", 0, end);
    const status = Number(text.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(text);
    if (!length) fail(`an answer without Content-Length:\n${text}`);
    data = data.subarray(end + 4);
    c.status = status;
    c.bodyLeft = Number(length[1]);
    if (c.bodyLeft === 0) finished(c, status);
  }
}

function connect() {
  open++;
  const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
  const c: Conn = { socket, sentAt: Number.NaN, pending: null, status: 0, bodyLeft: 0 };
  socket.on("data", (chunk: Buffer) => onData(c, chunk));
  socket.on("error", () => {});
  socket.on("close", () => {
    open--;
    const i = idle.indexOf(c);
    if (i >= 0) idle.splice(i, 1);
    if (!Number.isNaN(c.sentAt)) {
      outstanding--; // the request in flight is lost
      errors++;
    }
    const next = queue.shift();
    if (next !== undefined) send(connect(), next); // a fresh connection takes the queue on
  });
  return c;
}

/** Sends a request on an idle connection, a new one, or queues it; `now` is when it left or was queued. */
function dispatch(now: number) {
  outstanding++;
  const c = idle.pop() ?? (open < MAX_CONNECTIONS ? connect() : null);
  if (c) send(c, now);
  else queue.push(now);
}

const loop = monitorEventLoopDelay({ resolution: 1 });
let sent = 0;
/** CPU used when counting began (the end of the warm-up). */
let cpuBefore: NodeJS.CpuUsage | null = null;
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const now = performance.now();
    const elapsed = now - start;
    if (elapsed >= o.warmupMs && !cpuBefore) {
      loop.enable();
      cpuBefore = process.cpuUsage();
    }
    if (elapsed >= o.warmupMs + o.seconds * 1000) {
      clearInterval(timer);
      resolve();
      return;
    }
    // Catch up to the schedule (timers drift).
    const due = Math.floor((elapsed / 1000) * o.rate);
    while (sent < due && outstanding < MAX_OUTSTANDING) {
      dispatch(now);
      sent++;
    }
  }, 1);
});
loop.disable();
await new Promise<void>((resolve) => {
  const check = setInterval(() => {
    if (outstanding === 0) {
      clearInterval(check);
      resolve();
    }
  }, 5);
});
const cpu = process.cpuUsage(cpuBefore ?? undefined);
for (const c of idle) c.socket.destroy();
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
    cpuMs: round((cpu.user + cpu.system) / 1000),
  })}\n`,
);
process.exit(0);
