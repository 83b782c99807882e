import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

const serverDir = path.resolve(import.meta.dirname, "../..");
export const FIXTURE_CONFIG = path.join(serverDir, "test/fixtures/keyward.config.json");

/** One `node --import tsx src/main.ts` process with the given environment. */
export class ServerProcess {
  out = "";
  err = "";
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>) {
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("KEYWARD_")) base[k] = v;
    this.child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: serverDir,
      env: { ...base, KEYWARD_HOST: "127.0.0.1", KEYWARD_PORT: "0", KEYWARD_LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (d) => (this.out += d));
    this.child.stderr?.on("data", (d) => (this.err += d));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  /** Waits for the listening log line and returns the base URL. */
  async ready(timeoutMs = 30_000): Promise<string> {
    return (await this.waitFor(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/, timeoutMs))[1];
  }

  /** Waits until stdout matches `re` (output arrives in chunks, so a line may lag the one before it). */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.out);
      if (m) return m;
      if (this.child.exitCode !== null) throw new Error(`exited ${this.child.exitCode}: ${this.out}\n${this.err}`);
      if (Date.now() > deadline) throw new Error(`no ${re} in: ${this.out}\n${this.err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM, then the exit code (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export async function api(base: string, method: string, p: string, opts: { token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${p}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
