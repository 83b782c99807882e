import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");

export interface RunningServer {
  url: string;
  email: string;
  /** The first-start password the server printed (it must be changed on first sign-in). */
  printedPassword: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/** The caller's environment without Keyward settings that would change what the test runs against. */
function serverEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("KEYWARD_")) delete env[k];
  return env;
}

/**
 * Starts `tsx packages/server/src/main.ts` on SQLite in a temp data dir, like an operator's
 * first start, and reads the printed owner password from its output.
 */
export async function startServer(): Promise<RunningServer> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "kw-e2e-"));
  const port = await freePort();
  const email = "owner@example.com";
  const child: ChildProcess = spawn(
    process.execPath,
    [path.join(root, "node_modules/tsx/dist/cli.mjs"), "packages/server/src/main.ts"],
    {
      cwd: root,
      env: {
        ...serverEnv(),
        KEYWARD_DATA_DIR: dataDir,
        KEYWARD_PORT: String(port),
        KEYWARD_HOST: "127.0.0.1",
        KEYWARD_ADMIN_EMAIL: email,
        KEYWARD_CONFIG: path.join(here, "../fixtures/keyward.config.json"),
        KEYWARD_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  let password: string | undefined;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${out}`);
    password ??= /password:\s+(\S+)\s+\(shown once/.exec(out)?.[1];
    if (password) {
      const ok = await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
    }
    if (Date.now() > deadline) throw new Error(`server did not start in 60 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    email,
    printedPassword: password,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Calls the server's API directly (JSON in, parsed JSON out), for a test's setup and checks. */
export async function api(url: string, method: string, p: string, token?: string, body?: unknown) {
  const res = await fetch(`${url}${p}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
