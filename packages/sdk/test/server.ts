/**
 * Starts a real Keyward server (packages/server/src/main.ts through tsx) as a subprocess on a
 * random port with a temp SQLite data dir. Shared by the SDK and CLI tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const MAIN = fileURLToPath(new URL("./serve.ts", import.meta.url));
const FIXTURE_CONFIG = path.join(REPO_ROOT, "packages/server/test/fixtures/keyward.config.json");

export interface TestServer {
  url: string;
  dataDir: string;
  email: string;
  password: string;
  /** Environment that points the server's code (and `keyward migrate` etc.) at this server's database. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startServer(extraEnv: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-test-"));
  const email = "owner@example.com";
  const password = "owner-password-123";
  const env: Record<string, string> = {
    KEYWARD_DATA_DIR: dataDir,
    KEYWARD_ADMIN_EMAIL: email,
    KEYWARD_ADMIN_PASSWORD: password,
    KEYWARD_SECRET: "test-secret-0123456789-0123456789-abcdef",
    KEYWARD_CONFIG: FIXTURE_CONFIG,
    ...extraEnv,
  };
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, KEYWARD_PORT: "0", KEYWARD_HOST: "127.0.0.1", KEYWARD_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 60s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${output}`));
    });
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    url,
    dataDir,
    email,
    password,
    env,
    stop: () => stopChild(child).finally(() => rmSync(dataDir, { recursive: true, force: true })),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Signs in as the owner and returns the session token. */
export async function login(server: TestServer): Promise<string> {
  const res = await fetch(`${server.url}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: server.email, password: server.password }),
  });
  if (!res.ok) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}
