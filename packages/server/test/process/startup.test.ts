import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import SQLite from "better-sqlite3";
import pg from "pg";
import { afterEach, describe, expect, inject, it } from "vitest";
import { randomBase62 } from "../../src/domain/ids.js";
import { migrate, openDb } from "../../src/store/db.js";
import { pgProxy } from "../pg-proxy.js";
import { FIXTURE_CONFIG, ServerProcess, api } from "./process-helpers.js";

const SECRET = "process-secret-process-secret-process-0123456789";

// Each test starts real processes (tsx compiles on start): generous timeouts.
describe("server process", { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  const procs: ServerProcess[] = [];
  const tempDir = () => {
    const d = mkdtempSync(path.join(tmpdir(), "keyward-proc-"));
    dirs.push(d);
    return d;
  };
  /** `KEYWARD_SECRET: undefined` leaves the pepper to be generated into the data dir. */
  const start = (env: Record<string, string | undefined>) => {
    const full = { KEYWARD_SECRET: SECRET, KEYWARD_CONFIG: FIXTURE_CONFIG, ...env };
    const p = new ServerProcess(
      Object.fromEntries(Object.entries(full).filter((e): e is [string, string] => e[1] !== undefined)),
    );
    procs.push(p);
    return p;
  };

  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("first start creates the owner and operator org and prints a random password once; a second start keeps everything", async () => {
    const dataDir = path.join(tempDir(), "data");
    const first = start({ KEYWARD_DATA_DIR: dataDir, KEYWARD_SECRET: undefined });
    const base = await first.ready();
    const password = (await first.waitFor(/password:\s+([0-9A-Za-z]{20})\s/))[1];
    const email = /email:\s+(\S+)/.exec(first.out)?.[1];
    expect(email).toBe("admin@keyward.local");
    expect(first.out).toContain(`console:  ${base}/`.replace("127.0.0.1", "localhost"));
    expect(first.out.match(/password:/g)).toHaveLength(1);
    const login = await api(base, "POST", "/v1/auth/login", { body: { email, password } });
    expect(login.status).toBe(200);
    expect(login.body.user.mustChangePassword).toBe(true);
    // The printed password opens nothing but its own change.
    const before = await api(base, "GET", "/v1/orgs", { token: login.body.token });
    expect(before.status).toBe(403);
    expect(before.body.code).toBe("PASSWORD_CHANGE_REQUIRED");
    const changed = await api(base, "POST", "/v1/me/password", {
      token: login.body.token,
      body: { currentPassword: password, newPassword: "the-owner-chose-this-1" },
    });
    expect(changed.status).toBe(204);
    const orgs = await api(base, "GET", "/v1/orgs", { token: login.body.token });
    expect(orgs.body.items).toHaveLength(1);
    expect(orgs.body.items[0]).toMatchObject({ name: "Operator", isOperator: true });
    const created = await api(base, "POST", "/v1/orgs", {
      token: login.body.token,
      body: { name: "Survives restarts" },
    });
    expect(created.status).toBe(201);
    expect(await first.stop()).toBe(0);

    const second = start({ KEYWARD_DATA_DIR: dataDir, KEYWARD_SECRET: undefined });
    const base2 = await second.ready();
    expect(second.out).not.toContain("password:");
    expect(second.out).not.toContain("first start");
    const again = await api(base2, "POST", "/v1/auth/login", {
      body: { email, password: "the-owner-chose-this-1" },
    });
    expect(again.status).toBe(200);
    const orgs2 = await api(base2, "GET", "/v1/orgs", { token: again.body.token });
    expect(orgs2.body.items.map((o: { name: string }) => o.name).sort()).toEqual(["Operator", "Survives restarts"]);
    // The generated pepper was written once and kept.
    expect(statSync(path.join(dataDir, "secret.key")).mode & 0o777).toBe(0o600);
    // Nobody but Keyward's user reads the data: the folder it created, the database and its WAL.
    const mode = (name: string) => statSync(path.join(dataDir, name)).mode & 0o777;
    expect(mode(".")).toBe(0o700);
    expect(mode("keyward.db")).toBe(0o600);
    expect(mode("keyward.db-wal")).toBe(0o600);
    expect(await second.stop()).toBe(0);
  });

  it("takes the owner login from KEYWARD_ADMIN_EMAIL and KEYWARD_ADMIN_PASSWORD", async () => {
    const p = start({
      KEYWARD_DATA_DIR: tempDir(),
      KEYWARD_ADMIN_EMAIL: "Boss@Example.com",
      KEYWARD_ADMIN_PASSWORD: "chosen-password-123",
    });
    const base = await p.ready();
    await p.waitFor(/the one in KEYWARD_ADMIN_PASSWORD/);
    expect(p.out).toContain("email:    boss@example.com");
    expect(p.out).not.toContain("chosen-password-123");
    const login = await api(base, "POST", "/v1/auth/login", {
      body: { email: "boss@example.com", password: "chosen-password-123" },
    });
    expect(login.status).toBe(200);
    expect(login.body.user.mustChangePassword).toBe(false);
  });

  it("refuses to start with a broken config file, or bad settings, with a clear message and exit code 2", async () => {
    const cases: [string, string, RegExp][] = [
      ["not JSON", "{ nope", /cannot read JSON/],
      ["an unknown field", JSON.stringify({ permissions: [], colour: "red" }), /is invalid/],
      [
        "a malformed permission name",
        JSON.stringify({ permissions: [{ name: "Compute Read", description: "x" }] }),
        /is invalid.*permissions\/0\/name/,
      ],
      [
        "a reserved iam: permission",
        JSON.stringify({ permissions: [{ name: "iam:foo:read", description: "x" }] }),
        /iam:foo:read is reserved/,
      ],
      [
        "a duplicate permission",
        JSON.stringify({
          permissions: [
            { name: "a:read", description: "" },
            { name: "a:read", description: "" },
          ],
        }),
        /declared twice/,
      ],
      [
        "memberPermissions naming nothing of the catalog (a typo)",
        JSON.stringify({
          permissions: [{ name: "compute:read", description: "" }],
          memberPermissions: ["compute:raed"],
        }),
        /memberPermissions entry "compute:raed"/,
      ],
      [
        "memberPermissions handing members an iam:* permission",
        JSON.stringify({
          permissions: [{ name: "compute:read", description: "" }],
          memberPermissions: ["iam:orgs:delete"],
        }),
        /memberPermissions entry "iam:orgs:delete"/,
      ],
    ];
    const dir = tempDir();
    const runs = cases.map(([what, content, message], i) => {
      const file = path.join(dir, `config-${i}.json`);
      writeFileSync(file, content);
      return { what, file, message, p: start({ KEYWARD_DATA_DIR: path.join(dir, `data-${i}`), KEYWARD_CONFIG: file }) };
    });
    const missing = start({ KEYWARD_DATA_DIR: dir, KEYWARD_CONFIG: path.join(dir, "nope.json") });
    const port = start({ KEYWARD_DATA_DIR: dir, KEYWARD_PORT: "eighty" });
    const secret = start({ KEYWARD_DATA_DIR: dir, KEYWARD_SECRET: "short" });
    // Settings that once started anyway: a typo'd boolean read as its default, a database URL
    // of another scheme taken as a SQLite file name, a log level or schema failing later (exit 1).
    const settings: [Record<string, string>, RegExp][] = [
      [{ KEYWARD_ALLOW_ORG_CREATION: "flase" }, /KEYWARD_ALLOW_ORG_CREATION must be true or false/],
      [{ KEYWARD_DATABASE_URL: "postgress://db.internal/keyward" }, /KEYWARD_DATABASE_URL must be postgres/],
      [{ KEYWARD_LOG_LEVEL: "verbose" }, /KEYWARD_LOG_LEVEL must be one of/],
      // Taken for a socket path, whose connection errors logged the password.
      [{ KEYWARD_REDIS_URL: "rediss//:pw-in-the-log@cache:6380" }, /KEYWARD_REDIS_URL must be a redis/],
      [{ KEYWARD_DATABASE_SCHEMA: "Keyward-Prod" }, /KEYWARD_DATABASE_SCHEMA must be/],
    ];
    const bad = settings.map(([env, message]) => ({ env, message, p: start({ KEYWARD_DATA_DIR: dir, ...env }) }));
    for (const { what, file, message, p } of runs) {
      expect(await p.exited, what).toBe(2);
      expect(p.err, what).toMatch(/^keyward: Config file /m);
      expect(p.err, what).toContain(file);
      expect(p.err, what).toMatch(message);
      expect(p.err, what).not.toMatch(/\n\s+at /); // a message, not a stack trace
      expect(p.out, what).not.toContain("Server listening");
    }
    expect(existsSync(path.join(dir, "data-0", "keyward.db"))).toBe(false);
    expect(await missing.exited).toBe(2);
    expect(missing.err).toMatch(/KEYWARD_CONFIG: .*nope\.json does not exist/);
    expect(await port.exited).toBe(2);
    expect(port.err).toContain("KEYWARD_PORT must be an integer");
    expect(await secret.exited).toBe(2);
    expect(secret.err).toContain("KEYWARD_SECRET must be at least 32 characters");
    for (const { env, message, p } of bad) {
      expect(await p.exited, JSON.stringify(env)).toBe(2);
      expect(p.err, JSON.stringify(env)).toMatch(message);
    }
    expect(existsSync(path.join(process.cwd(), "postgress:"))).toBe(false);
  });

  it("refuses to start on a database made with another secret, with exit code 2", async () => {
    const dataDir = tempDir();
    const first = start({ KEYWARD_DATA_DIR: dataDir, KEYWARD_SECRET: undefined });
    await first.ready();
    expect(await first.stop()).toBe(0);
    // The generated secret.key lost (an ephemeral disk), the database kept.
    rmSync(path.join(dataDir, "secret.key"));
    const other = start({ KEYWARD_DATA_DIR: dataDir, KEYWARD_SECRET: undefined });
    expect(await other.exited).toBe(2);
    expect(other.err).toMatch(/KEYWARD_SECRET .*is not the secret this database was made with/);
    expect(other.out).not.toContain("Server listening");
  });

  it("prints the generated first-start password even when the first start cannot listen", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = String((blocker.address() as AddressInfo).port);
    const dataDir = tempDir();
    const first = start({ KEYWARD_DATA_DIR: dataDir, KEYWARD_SECRET: undefined, KEYWARD_PORT: port });
    expect(await first.exited).toBe(1);
    await new Promise<void>((r) => blocker.close(() => r()));
    const password = /password:\s+([0-9A-Za-z]{20})\s/.exec(first.out)?.[1];
    expect(password, "the generated password was never printed").toBeTruthy();
    // A later start prints nothing (the owner exists), and the printed password signs in.
    const second = start({ KEYWARD_DATA_DIR: dataDir, KEYWARD_SECRET: undefined });
    const base = await second.ready();
    expect(second.out).not.toContain("password:");
    const login = await api(base, "POST", "/v1/auth/login", { body: { email: "admin@keyward.local", password } });
    expect(login.status).toBe(200);
  });

  it("on SIGTERM finishes the request in flight, exits 0 and leaves a consistent SQLite file", async () => {
    const dataDir = tempDir();
    const p = start({
      KEYWARD_DATA_DIR: dataDir,
      KEYWARD_ADMIN_EMAIL: "drain@example.com",
      KEYWARD_ADMIN_PASSWORD: "drain-password-123",
    });
    const base = await p.ready();
    const { port } = new URL(base);
    // A login whose body is still arriving when SIGTERM comes.
    const body = JSON.stringify({ email: "drain@example.com", password: "drain-password-123" });
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    let response = "";
    socket.on("data", (d) => (response += d));
    const closed = new Promise((r) => socket.once("close", r));
    socket.write(
      `POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    socket.write(body.slice(0, 10));
    await new Promise((r) => setTimeout(r, 300));
    p.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    expect(p.child.exitCode).toBeNull(); // still draining
    socket.write(body.slice(10));
    // The answer comes with `Connection: close`, and the process exits promptly after it
    // (not after the 72 s keep-alive timeout).
    await closed;
    const drainedAt = Date.now();
    expect(response, `${p.out}\n${p.err}`).toMatch(/^HTTP\/1\.1 200/);
    expect(response.toLowerCase()).toContain("connection: close");
    const token = /"token":"(sess_[0-9A-Za-z]+)"/.exec(response)?.[1];
    expect(token).toBeDefined();
    expect(await p.exited).toBe(0);
    expect(Date.now() - drainedAt).toBeLessThan(10_000);
    expect(p.out).toContain("shutting down");

    const file = path.join(dataDir, "keyward.db");
    // Closed cleanly: the WAL was checkpointed and removed.
    expect(existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0).toBe(0);
    const db = new SQLite(file, { readonly: true });
    try {
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      expect(db.pragma("foreign_key_check")).toEqual([]);
      // The drained request's session was committed.
      const sessions = db.prepare("select count(*) as n from sessions").get() as { n: number };
      expect(sessions.n).toBe(1);
    } finally {
      db.close();
    }
  });

  describe("on PostgreSQL", () => {
    const schema = `p_${randomBase62(10).toLowerCase()}`;
    afterEach(async () => {
      const client = new pg.Client({ connectionString: inject("pgUrl") });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    });

    it("starts from KEYWARD_DATABASE_URL in its own schema, bootstraps once and keeps data across restarts", async () => {
      const env = {
        KEYWARD_DATA_DIR: tempDir(),
        KEYWARD_DATABASE_URL: inject("pgUrl"),
        KEYWARD_DATABASE_SCHEMA: schema,
      };
      const first = start(env);
      const base = await first.ready();
      const password = (await first.waitFor(/password:\s+([0-9A-Za-z]{20})\s/))[1];
      expect((await api(base, "GET", "/readyz")).body).toEqual({ status: "ok", database: "postgres" });
      const login = await api(base, "POST", "/v1/auth/login", { body: { email: "admin@keyward.local", password } });
      const changed = await api(base, "POST", "/v1/me/password", {
        token: login.body.token,
        body: { currentPassword: password, newPassword: "the-owner-chose-this-1" },
      });
      expect(changed.status).toBe(204);
      expect(login.status).toBe(200);
      await api(base, "POST", "/v1/orgs", { token: login.body.token, body: { name: "On PostgreSQL" } });
      expect(await first.stop()).toBe(0);

      const client = new pg.Client({ connectionString: inject("pgUrl") });
      await client.connect();
      const tables = await client.query("select table_name from information_schema.tables where table_schema = $1", [
        schema,
      ]);
      await client.end();
      expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(["users", "orgs", "audit_events"]));

      const second = start(env);
      const base2 = await second.ready();
      expect(second.out).not.toContain("password:");
      const again = await api(base2, "POST", "/v1/auth/login", {
        body: { email: "admin@keyward.local", password: "the-owner-chose-this-1" },
      });
      expect(again.status).toBe(200);
      const orgs = await api(base2, "GET", "/v1/orgs", { token: again.body.token });
      expect(orgs.body.items.map((o: { name: string }) => o.name).sort()).toEqual(["On PostgreSQL", "Operator"]);
      expect(await second.stop()).toBe(0);
    });

    it("on SIGTERM while PostgreSQL has gone silent, exits promptly", async () => {
      const proxy = await pgProxy(inject("pgUrl"));
      try {
        const p = start({
          KEYWARD_DATA_DIR: tempDir(),
          KEYWARD_DATABASE_URL: proxy.url,
          KEYWARD_DATABASE_SCHEMA: schema,
          KEYWARD_DATABASE_TIMEOUT_MS: "1000",
          KEYWARD_ADMIN_EMAIL: "silent@example.com",
          KEYWARD_ADMIN_PASSWORD: "silent-password-123",
        });
        const base = await p.ready();
        const login = await api(base, "POST", "/v1/auth/login", {
          body: { email: "silent@example.com", password: "silent-password-123" },
        });
        expect(login.status).toBe(200);
        // Every open connection goes silent (the pool's and the LISTEN one); clients give up.
        proxy.blackhole();
        await Promise.all(
          Array.from({ length: 10 }, () =>
            fetch(`${base}/v1/orgs`, {
              headers: { authorization: `Bearer ${login.body.token}` },
              signal: AbortSignal.timeout(300),
            }).catch(() => null),
          ),
        );
        const t0 = Date.now();
        const code = await p.stop(30_000);
        expect(Date.now() - t0, `${p.out}\n${p.err}`).toBeLessThan(10_000);
        expect(code).toBe(0);
      } finally {
        await proxy.close();
      }
    });

    it("creates and migrates a new schema from four connections opened at once, each time", async () => {
      // Nodes of one cluster starting together race to create the schema; the losers must go on.
      for (let round = 0; round < 10; round++) {
        const s = `${schema}_${round}`;
        try {
          const opened = await Promise.allSettled(
            [0, 1, 2, 3].map(async () => {
              const db = await openDb(inject("pgUrl"), s);
              try {
                await migrate(db);
              } finally {
                await db.close();
              }
            }),
          );
          expect(opened.filter((o) => o.status === "rejected").map((o) => String(o.reason))).toEqual([]);
        } finally {
          const client = new pg.Client({ connectionString: inject("pgUrl") });
          await client.connect();
          await client.query(`drop schema if exists ${s} cascade`);
          await client.end();
        }
      }
    });

    it("three nodes started at once on an empty database all come up, and one of them creates the owner", async () => {
      const env = () => ({
        KEYWARD_DATA_DIR: tempDir(),
        KEYWARD_DATABASE_URL: inject("pgUrl"),
        KEYWARD_DATABASE_SCHEMA: schema,
        KEYWARD_ADMIN_EMAIL: "owner@example.com",
        KEYWARD_ADMIN_PASSWORD: "owner-password-123",
      });
      const nodes = [0, 1, 2].map(() => start(env()));
      try {
        const bases = await Promise.all(nodes.map((n) => n.ready(60_000)));
        expect(nodes.filter((n) => n.out.includes("Keyward first start")).length).toBe(1);
        for (const base of bases) {
          const login = await api(base, "POST", "/v1/auth/login", {
            body: { email: "owner@example.com", password: "owner-password-123" },
          });
          expect(login.status).toBe(200);
          const orgs = await api(base, "GET", "/v1/orgs", { token: login.body.token });
          expect(orgs.body.items.map((o: { name: string }) => o.name)).toEqual(["Operator"]);
        }
        const client = new pg.Client({ connectionString: inject("pgUrl") });
        await client.connect();
        const users = await client.query(`select email from ${schema}.users`);
        const operators = await client.query(`select id from ${schema}.orgs where is_operator = 1`);
        await client.end();
        expect(users.rows).toEqual([{ email: "owner@example.com" }]);
        expect(operators.rows).toHaveLength(1);
      } finally {
        for (const code of await Promise.all(nodes.map((n) => n.stop()))) expect(code).toBe(0);
      }
    });
  });
});
