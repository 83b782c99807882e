import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll } from "vitest";
import { type TestServer, startServer } from "../../sdk/test/server.js";

export const BIN = fileURLToPath(new URL("../bin/keyward.js", import.meta.url));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (throws with the output when it is not JSON). */
  // biome-ignore lint/suspicious/noExplicitAny: tests read fields of parsed output directly
  json: () => any;
}

/** Runs `keyward …` as a subprocess (stdin closed unless `input`), never through a TTY. */
export function keyward(
  args: string[],
  opts: { env?: Record<string, string | undefined>; input?: string } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({
        code: code ?? -1,
        stdout,
        stderr,
        json: () => {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(`not JSON (exit ${code}):\n${stdout}\n${stderr}`);
          }
        },
      }),
    );
    child.stdin.end(opts.input ?? "");
  });
}

/**
 * A test file's Keyward server and config folder, made before its tests and removed after, and
 * `kw` to run keyward with them and no KEYWARD_* setting inherited from the caller's shell.
 */
export function cliSuite(tmpPrefix: string) {
  const suite = {} as { server: TestServer; configHome: string; env: Record<string, string | undefined> };
  beforeAll(async () => {
    suite.server = await startServer();
    suite.configHome = mkdtempSync(path.join(tmpdir(), tmpPrefix));
    suite.env = {
      XDG_CONFIG_HOME: suite.configHome,
      KEYWARD_API_KEY: undefined,
      KEYWARD_URL: undefined,
      KEYWARD_PROFILE: undefined,
      KEYWARD_ORG: undefined,
      KEYWARD_PASSWORD: undefined,
      NO_COLOR: undefined,
    };
  });
  afterAll(async () => {
    await suite.server?.stop();
    if (suite.configHome) rmSync(suite.configHome, { recursive: true, force: true });
  });
  const kw = (args: string[], extra: Record<string, string | undefined> = {}, input?: string) =>
    keyward(args, { env: { ...suite.env, ...extra }, input });
  return { suite, kw };
}
