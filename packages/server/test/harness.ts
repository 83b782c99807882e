import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, inject } from "vitest";
import { loadConfig, type Config } from "../src/config.js";
import { type Keyward, createKeyward } from "../src/compose.js";
import { randomBase62 } from "../src/domain/ids.js";
import { bootstrap } from "../src/services/bootstrap.js";
import { PgInvalidationBus } from "../src/services/verify/invalidation.js";

export type DialectName = "sqlite" | "postgres";
export const DIALECTS: DialectName[] = ["sqlite", "postgres"];

export const OWNER_EMAIL = "owner@example.com";
export const OWNER_PASSWORD = "owner-password-123";

export interface InjectOptions {
  token?: string;
  body?: unknown;
  /** A body sent as is (with its own content-type in `headers`), instead of `body` as JSON. */
  payload?: string;
  headers?: Record<string, string>;
  /** The client's address (inject only: over a socket it is 127.0.0.1). */
  ip?: string;
}

/**
 * How `req` reaches the app: Fastify's inject (no socket), or real HTTP to the listening
 * server (what a client gets: POST /v1/verify is answered in front of Fastify there).
 */
export type Transport = "inject" | "http";
export const TRANSPORTS: Transport[] = ["inject", "http"];

export interface Res<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
}

/**
 * A fresh Keyward per test: its own SQLite file or PostgreSQL schema, an owner user and
 * the operator org. Nothing is shared between tests.
 */
export class Harness {
  private constructor(
    readonly kw: Keyward,
    readonly dialect: DialectName,
    readonly operatorOrgId: string,
    private cleanup: () => Promise<void>,
  ) {}

  /** Set once the app listens ({@link listen}): requests then go over HTTP to this base URL. */
  private baseUrl: string | null = null;

  static async init(
    dialect: DialectName,
    env: Record<string, string> = {},
    configure?: (c: Config) => void,
    transport: Transport = "inject",
  ): Promise<Harness> {
    const dir = mkdtempSync(path.join(tmpdir(), "keyward-test-"));
    const schema = `t_${randomBase62(12).toLowerCase()}`;
    const config = loadConfig({
      KEYWARD_DATA_DIR: dir,
      KEYWARD_DATABASE_URL: dialect === "postgres" ? inject("pgUrl") : path.join(dir, "keyward.db"),
      KEYWARD_SECRET: "test-secret-test-secret-test-secret-0123456789",
      KEYWARD_ADMIN_EMAIL: OWNER_EMAIL,
      KEYWARD_ADMIN_PASSWORD: OWNER_PASSWORD,
      KEYWARD_CONFIG: path.join(import.meta.dirname, "fixtures", "keyward.config.json"),
      ...env,
    });
    if (dialect === "postgres") config.databaseSchema = schema;
    configure?.(config);
    const kw = await createKeyward(config, { logger: false });
    const first = await bootstrap(kw.db, config, new Date());
    const cleanup = async () => {
      if (dialect === "postgres" && kw.db.pgPool) {
        await kw.db.pgPool.query(`drop schema if exists ${schema} cascade`).catch(() => {});
      }
      await kw.close();
      rmSync(dir, { recursive: true, force: true });
    };
    const h = new Harness(kw, dialect, first?.orgId ?? "", cleanup);
    if (transport === "http") await h.listen();
    return h;
  }

  get app() {
    return this.kw.app;
  }

  /** Listens on a free port of 127.0.0.1; from then on `req` goes over HTTP. Returns the base URL. */
  async listen(): Promise<string> {
    await this.kw.app.listen({ port: 0, host: "127.0.0.1" });
    this.baseUrl = `http://127.0.0.1:${(this.kw.app.server.address() as { port: number }).port}`;
    return this.baseUrl;
  }

  /** Set by a test that emits key changes by hand, outside any transaction (see {@link close}). */
  private handEmits = false;

  /** Declares that this test emits key changes itself, without announcing them in a transaction. */
  emitsByHand(): this {
    this.handEmits = true;
    return this;
  }

  /**
   * Closes the app. On PostgreSQL it fails the test if Keyward's own code emitted a key change
   * without announcing it inside its transaction: other nodes would then learn of it only from
   * the node's copy after the commit, which a crash right after the commit loses.
   */
  async close() {
    const bus = this.kw.services.verify.bus;
    const stats = bus instanceof PgInvalidationBus ? { ...bus.stats } : null;
    await this.cleanup();
    if (stats && stats.unannounced > 0 && !this.handEmits) {
      throw new Error(
        `${stats.unannounced} key change(s) were emitted without an announce in their transaction, the last ${JSON.stringify(stats.lastUnannounced)}`,
      );
    }
  }

  /** Sends a request through Fastify's inject (no socket), or over HTTP (see {@link Transport}). */
  async req<T = any>(method: string, url: string, opts: InjectOptions = {}): Promise<Res<T>> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (this.baseUrl !== null) return this.overHttp(method, url, headers, opts);
    const res = await this.app.inject({
      method: method as "GET",
      url,
      headers,
      remoteAddress: opts.ip,
      ...(opts.payload !== undefined ? { payload: opts.payload } : {}),
      ...(opts.body !== undefined ? { payload: opts.body as object } : {}),
    });
    const type = String(res.headers["content-type"] ?? "");
    const body = type.includes("json") && res.body ? JSON.parse(res.body) : res.body;
    return { status: res.statusCode, body, headers: res.headers };
  }

  private async overHttp<T>(
    method: string,
    url: string,
    headers: Record<string, string>,
    opts: InjectOptions,
  ): Promise<Res<T>> {
    if (opts.ip !== undefined) throw new Error("harness: `ip` needs the inject transport");
    let payload = opts.payload;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(`${this.baseUrl}${url}`, { method, headers, body: payload });
    const text = await res.text();
    const type = res.headers.get("content-type") ?? "";
    return {
      status: res.status,
      body: (type.includes("json") && text ? JSON.parse(text) : text) as T,
      headers: Object.fromEntries(res.headers),
    };
  }

  async login(email = OWNER_EMAIL, password = OWNER_PASSWORD): Promise<string> {
    const res = await this.req("POST", "/v1/auth/login", { body: { email, password } });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.token as string;
  }

  /** A new org owned by a new user; returns that user's session token and the org id. */
  async newOrgWithOwner(label = "other"): Promise<{ token: string; orgId: string; userId: string; email: string }> {
    const ownerToken = await this.login();
    const email = `${label}-${randomBase62(6).toLowerCase()}@example.com`;
    const inv = await this.req("POST", `/v1/orgs/${this.operatorOrgId}/invitations`, {
      token: ownerToken,
      body: { email, roles: [{ roleId: "role_viewer" }] },
    });
    const acc = await this.req("POST", `/v1/invitations/${inv.body.token}/accept`, {
      body: { name: label, password: "password-of-someone" },
    });
    const token = await this.login(email, "password-of-someone");
    const org = await this.req("POST", "/v1/orgs", { token, body: { name: `${label} org` } });
    if (org.status !== 201) throw new Error(`org create failed ${JSON.stringify(org.body)}`);
    return { token, orgId: org.body.id, userId: acc.body.userId, email };
  }

  /** Invites a new user into `orgId` with `roles` (as the org's `inviterToken`) and logs them in. */
  async newMember(
    orgId: string,
    inviterToken: string,
    roles: { roleId: string; projectId?: string }[],
    label = "member",
  ): Promise<{ token: string; userId: string; email: string }> {
    const email = `${label}-${randomBase62(6).toLowerCase()}@example.com`;
    const inv = await this.req("POST", `/v1/orgs/${orgId}/invitations`, {
      token: inviterToken,
      body: { email, roles },
    });
    if (inv.status !== 201) throw new Error(`invite failed ${JSON.stringify(inv.body)}`);
    const acc = await this.req("POST", `/v1/invitations/${inv.body.token}/accept`, {
      body: { name: label, password: "password-of-someone" },
    });
    const token = await this.login(email, "password-of-someone");
    return { token, userId: acc.body.userId, email };
  }
}

/**
 * Runs a suite once per database. The PostgreSQL run is skipped (loudly, by global setup)
 * only when no server answers and CI is not set.
 */
export function describeEachDialect(name: string, fn: (dialect: DialectName) => void) {
  for (const dialect of DIALECTS) {
    const run = dialect === "sqlite" || inject("pgAvailable");
    (run ? describe : describe.skip)(`${name} [${dialect}]`, () => fn(dialect));
  }
}
