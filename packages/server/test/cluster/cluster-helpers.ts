import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { randomBase62 } from "../../src/domain/ids.js";

const serverDir = path.resolve(import.meta.dirname, "../..");
export const OWNER = { email: "owner@example.com", password: "owner-password-123" };

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** One Keyward process (`node --import tsx src/main.ts`) on 127.0.0.1. */
export class Node {
  private output = "";
  constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on("data", (d) => (this.output += d));
    child.stderr?.on("data", (d) => (this.output += d));
  }

  get log() {
    return this.output;
  }

  async req(method: string, p: string, opts: { token?: string; body?: unknown } = {}) {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${this.url}${p}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  async stop() {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

/** Several Keyward processes sharing one PostgreSQL schema (and Redis, when given). */
export class Cluster {
  readonly schema = `c_${randomBase62(10).toLowerCase()}`;
  readonly nodes: Node[] = [];
  private readonly dir = mkdtempSync(path.join(tmpdir(), "keyward-cluster-"));

  constructor(
    private readonly pgUrl: string,
    private readonly extraEnv: Record<string, string> = {},
  ) {}

  /** Starts a node and waits until it answers /readyz. Start the first alone: it bootstraps. */
  async start(): Promise<Node> {
    const port = await freePort();
    const env = {
      ...process.env,
      KEYWARD_DATABASE_URL: this.pgUrl,
      KEYWARD_DATABASE_SCHEMA: this.schema,
      KEYWARD_PORT: String(port),
      KEYWARD_HOST: "127.0.0.1",
      KEYWARD_SECRET: "cluster-secret-cluster-secret-cluster-0123456789",
      KEYWARD_ADMIN_EMAIL: OWNER.email,
      KEYWARD_ADMIN_PASSWORD: OWNER.password,
      KEYWARD_DATA_DIR: path.join(this.dir, String(this.nodes.length)),
      KEYWARD_CONFIG: path.join(serverDir, "test/fixtures/keyward.config.json"),
      KEYWARD_LOG_LEVEL: "warn",
      // Every node issues tokens under one issuer name (the load balancer's address).
      KEYWARD_PUBLIC_URL: "http://keyward.test",
      ...this.extraEnv,
    };
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: serverDir,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const node = new Node(`http://127.0.0.1:${port}`, child);
    this.nodes.push(node);
    const deadline = Date.now() + 50_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`node exited (${child.exitCode}): ${node.log}`);
      try {
        const res = await fetch(`${node.url}/readyz`);
        if (res.ok) return node;
      } catch {}
      if (Date.now() > deadline) throw new Error(`node did not become ready: ${node.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close() {
    await Promise.all(this.nodes.map((n) => n.stop()));
    const client = new pg.Client({ connectionString: this.pgUrl });
    await client.connect();
    await client.query(`drop schema if exists ${this.schema} cascade`).catch(() => {});
    await client.end();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Through `node`: the owner's session, the operator org, a verifier key (service account with
 * iam:apikeys:verify) and a helper to make keys in the operator org.
 */
export async function setupVerifier(node: Node) {
  const login = await node.req("POST", "/v1/auth/login", { body: OWNER });
  const token = login.body.token as string;
  const orgs = await node.req("GET", "/v1/orgs", { token });
  const orgId = (orgs.body.items as { id: string; isOperator?: boolean }[])[0].id;
  const role = await node.req("POST", `/v1/orgs/${orgId}/roles`, {
    token,
    body: { name: "verifier", permissions: ["iam:apikeys:verify"] },
  });
  const sa = await node.req("POST", `/v1/orgs/${orgId}/service-accounts`, {
    token,
    body: { name: "gateway", roles: [{ roleId: role.body.id }] },
  });
  const vk = await node.req("POST", `/v1/orgs/${orgId}/api-keys`, {
    token,
    body: { name: "verifier", owner: { type: "service_account", id: sa.body.id }, permissions: ["iam:apikeys:verify"] },
  });
  if (vk.status !== 201) throw new Error(`verifier key: ${JSON.stringify(vk.body)}`);
  const mkKey = async (body: Record<string, unknown>) => {
    const res = await node.req("POST", `/v1/orgs/${orgId}/api-keys`, { token, body });
    if (res.status !== 201) throw new Error(`key: ${JSON.stringify(res.body)}`);
    return { id: res.body.apiKey.id as string, secret: res.body.secret as string };
  };
  return { token, orgId, verifier: vk.body.secret as string, mkKey };
}
