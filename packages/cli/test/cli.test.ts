import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../sdk/test/server.js";
import { cliSuite } from "./run.js";

const { suite, kw } = cliSuite("keyward-cli-config-");

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[`);

describe("arguments, help and exit codes", () => {
  it("prints help with examples for the program and for commands", async () => {
    const top = await kw(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("keys");
    expect(top.stdout).toContain("Examples:");
    for (const cmd of [
      ["keys", "create"],
      ["keys", "regenerate"],
      ["projects", "create"],
      ["audit", "list"],
      ["verify"],
      ["login"],
    ]) {
      const r = await kw([...cmd, "--help"]);
      expect(r.code, cmd.join(" ")).toBe(0);
      expect(r.stdout, cmd.join(" ")).toContain("Examples:");
    }
  });

  it("exits 2 on unknown commands, missing arguments and bad flag values", async () => {
    const unknown = await kw(["keys", "frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command/);
    const missing = await kw(["keys", "get"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument/);
    const badExpiry = await kw(["keys", "create", "x", "--expires", "soon", "--url", suite.server.url]);
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toMatch(/--expires/);
    const badShell = await kw(["completion", "fish"]);
    expect(badShell.code).toBe(2);
  });

  it("prints bash and zsh completion scripts", async () => {
    const bash = await kw(["completion", "bash"]);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain("complete -o default -F _keyward keyward");
    expect(bash.stdout).toContain('"keys create"');
    // The script completes subcommands and flags in a real bash.
    const { execFileSync } = await import("node:child_process");
    const { writeFileSync } = await import("node:fs");
    const script = path.join(suite.configHome, "keyward-completion.bash");
    writeFileSync(script, bash.stdout);
    const complete = (words: string[]) =>
      execFileSync("bash", [
        "-c",
        `source "$0"; COMP_WORDS=(${words.join(" ")}); COMP_CWORD=${words.length - 1}; _keyward; echo "\${COMPREPLY[*]}"`,
        script,
      ])
        .toString()
        .trim();
    expect(complete(["keyward", "keys", "reg"])).toBe("regenerate");
    expect(complete(["keyward", "keys", "create", "x", "--per"])).toBe("--permission");
    const zsh = await kw(["completion", "zsh"]);
    expect(zsh.stdout).toMatch(/^#compdef keyward/);
    expect(zsh.stdout).toContain("bashcompinit");
  });

  it("says how to sign in when there are no credentials (exit 1)", async () => {
    const r = await kw(["keys", "list", "--url", suite.server.url, "--org", "org_x"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/keyward login/);
  });
});

describe("against a running server", () => {
  let orgId: string;

  it("refuses a wrong password with the problem detail (exit 1)", async () => {
    const r = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin"],
      {},
      "wrong-password-123\n",
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/INVALID_CREDENTIALS/);
  });

  it("logs in, stores the profile with mode 0600 and answers whoami", async () => {
    const r = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin", "--json"],
      {},
      `${suite.server.password}\n`,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out.profile).toBe("default");
    orgId = out.orgId;
    expect(orgId).toMatch(/^org_/);
    const file = path.join(suite.configHome, "keyward", "config.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, "utf8"));
    expect(saved.profiles.default.token).toMatch(/^sess_/);

    const me = await kw(["whoami", "--json"]);
    expect(me.code).toBe(0);
    expect(me.json().user.email).toBe(suite.server.email);
    const table = await kw(["whoami"]);
    expect(table.stdout).toContain(suite.server.email);
    expect(table.stdout).not.toMatch(ANSI);
  });

  it("colours output on a terminal, but not with NO_COLOR", async () => {
    // util-linux `script` gives the CLI a pseudo-terminal.
    const { BIN } = await import("./run.js");
    const { execFileSync } = await import("node:child_process");
    const onTty = (extra: Record<string, string | undefined>) => {
      const vars: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...process.env, ...suite.env, ...extra })) if (v !== undefined) vars[k] = v;
      return execFileSync("script", ["-qec", `"${process.execPath}" "${BIN}" whoami`, "/dev/null"], {
        env: vars,
      }).toString();
    };
    expect(onTty({})).toMatch(ANSI);
    const plain = onTty({ NO_COLOR: "1" });
    expect(plain).toContain(suite.server.email);
    expect(plain).not.toMatch(ANSI);
  });

  it("runs the key lifecycle: create → list → use → regenerate → disable/enable → update → delete", async () => {
    const created = await kw([
      "keys",
      "create",
      "ci deploy",
      "--permission",
      "compute:read",
      "--permission",
      "storage:read",
      "--expires",
      "30d",
      "--json",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { apiKey, secret } = created.json();
    expect(secret).toMatch(/^kw_/);
    expect(apiKey.permissions).toEqual(["compute:read", "storage:read"]);
    expect(Date.parse(apiKey.expiresAt) - Date.now()).toBeGreaterThan(29 * 86400_000);

    const human = await kw(["keys", "create", "printed once"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/kw_\w+/);
    expect(human.stderr).toMatch(/shown only once/);

    const list = await kw(["keys", "list", "--json"]);
    expect(list.code).toBe(0);
    const ids = list.json().items.map((k: { id: string }) => k.id);
    expect(ids).toContain(apiKey.id);
    const table = await kw(["keys", "list"]);
    expect(table.stdout).toContain("ci deploy");
    expect(table.stdout).not.toMatch(ANSI);

    // Use the secret: KEYWARD_API_KEY overrides the profile's session.
    const asKey = await kw(["whoami", "--json"], { KEYWARD_API_KEY: secret });
    expect(asKey.code, asKey.stderr).toBe(0);
    expect(asKey.json().credential).toMatchObject({ type: "api_key", id: apiKey.id });

    const got = await kw(["keys", "get", apiKey.id, "--json"]);
    expect(got.json()).toMatchObject({ id: apiKey.id, name: "ci deploy", status: "active" });

    const rotated = await kw(["keys", "regenerate", apiKey.id, "--json"]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const newSecret = rotated.json().secret;
    expect(newSecret).not.toBe(secret);
    const old = await kw(["whoami"], { KEYWARD_API_KEY: secret });
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/UNAUTHENTICATED|401/);
    expect((await kw(["whoami"], { KEYWARD_API_KEY: newSecret })).code).toBe(0);

    const graced = await kw(["keys", "regenerate", apiKey.id, "--grace", "1h", "--json"]);
    expect(graced.json().apiKey.previousSecretExpiresAt).toBeTruthy();
    expect((await kw(["whoami"], { KEYWARD_API_KEY: newSecret })).code).toBe(0);
    const latest = graced.json().secret;

    const disabled = await kw(["keys", "disable", apiKey.id, "--json"]);
    expect(disabled.json().status).toBe("disabled");
    expect((await kw(["whoami"], { KEYWARD_API_KEY: latest })).code).toBe(1);
    expect((await kw(["keys", "enable", apiKey.id, "--json"])).json().status).toBe("active");
    expect((await kw(["whoami"], { KEYWARD_API_KEY: latest })).code).toBe(0);

    const updated = await kw([
      "keys",
      "update",
      apiKey.id,
      "--name",
      "deploy",
      "--allow-ip",
      "10.0.0.0/8",
      "--read-only",
      "--json",
    ]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.json()).toMatchObject({ name: "deploy", allowedIps: ["10.0.0.0/8"], readOnly: true });
    const cleared = await kw(["keys", "update", apiKey.id, "--any-ip", "--expires", "never", "--json"]);
    expect(cleared.json()).toMatchObject({ allowedIps: [], expiresAt: null });

    const unconfirmed = await kw(["keys", "delete", apiKey.id]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/--yes/);
    const deleted = await kw(["keys", "delete", apiKey.id, "--yes", "--json"]);
    expect(deleted.code).toBe(0);
    expect(deleted.json()).toEqual({ deleted: apiKey.id });
    const gone = await kw(["keys", "get", apiKey.id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/not found/i);
    expect(gone.stderr).toMatch(/NOT_FOUND/);
  });

  it("verifies keys (exit 1 when refused) and exchanges them for tokens", async () => {
    const { apiKey, secret } = (
      await kw(["keys", "create", "verify me", "--permission", "compute:read", "--json"])
    ).json();
    const ok = await kw(["verify", secret, "--permission", "compute:read", "--json"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json()).toMatchObject({ valid: true, keyId: apiKey.id, orgId });
    const text = await kw(["verify", secret]);
    expect(text.stdout).toMatch(/^valid/);
    const refused = await kw(["verify", secret, "--permission", "compute:write", "--json"]);
    expect(refused.code).toBe(1);
    expect(refused.json()).toEqual(expect.objectContaining({ valid: false, code: "INSUFFICIENT_PERMISSIONS" }));
    // `-` reads the secret from stdin, out of ps and shell history.
    const piped = await kw(["verify", "-", "--json"], {}, `${secret}\n`);
    expect(piped.json()).toMatchObject({ valid: true, keyId: apiKey.id });
    const pipedToken = await kw(["token", "-"], {}, secret);
    expect(pipedToken.stdout.trim()).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const fromIp = await kw(["verify", secret, "--ip", "not-an-ip"]);
    expect(fromIp.code).toBe(1);
    expect(fromIp.stderr).toMatch(/ip/);

    const token = await kw(["token", secret]);
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout.trim()).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(token.stderr).toMatch(/expires in \d+s/);
    const asJson = await kw(["token", secret, "--scope", "compute:read", "--ttl", "60", "--json"]);
    expect(asJson.json()).toMatchObject({ token_type: "Bearer", scope: "compute:read" });
    expect(asJson.json().expires_in).toBeLessThanOrEqual(60);
    const bad = await kw(["token", "kw_notarealkeyxxxxxxxxxxxxxxxxxxxxxxxxxxx"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error:/);
  });

  it("says when a rate-limited key may be used again", async () => {
    const { secret } = (await kw(["keys", "create", "limited", "--rate-limit", "1/60s", "--json"])).json();
    const admitted = await kw(["verify", secret]);
    expect(admitted.code).toBe(0);
    expect(admitted.stdout).toMatch(/rate limit\s+0 of 1 left, until \d{4}-/);
    const refused = await kw(["verify", secret]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/RATE_LIMITED/);
    expect(refused.stdout).toMatch(/resets at \d{4}-/);
    const token = await kw(["token", secret, "--json"]);
    expect(token.code).toBe(1);
    expect(JSON.parse(token.stderr).error).toMatchObject({ code: "RATE_LIMITED", status: 429 });
    expect(JSON.parse(token.stderr).error.retryAfter).toBeGreaterThan(0);
  });

  it("prints the problem detail and each bad field, as text or JSON", async () => {
    const r = await kw(["keys", "create", "bad", "--permission", "nope:nothing", "--allow-ip", "not-an-ip"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/INVALID_REQUEST/);
    expect(r.stderr).toMatch(/permissions\/0/);
    const j = await kw(["keys", "create", "bad", "--permission", "nope:nothing", "--json"]);
    expect(j.code).toBe(1);
    const problem = JSON.parse(j.stderr).error;
    expect(problem).toMatchObject({ status: 400, code: "INVALID_REQUEST" });
    expect(problem.errors.map((e: { path: string }) => e.path)).toContain("permissions/0");
  });

  it("manages projects, service accounts, roles and members", async () => {
    const prj = (await kw(["projects", "create", "web", "--description", "site", "--json"])).json();
    expect(prj.id).toMatch(/^prj_/);
    expect((await kw(["projects", "list", "--json"])).json().items.map((p: { id: string }) => p.id)).toContain(prj.id);
    expect((await kw(["projects", "update", prj.id, "--name", "www", "--json"])).json().name).toBe("www");

    const role = (await kw(["roles", "create", "deployer", "--permission", "compute:read", "--json"])).json();
    expect(role.id).toMatch(/^role_/);
    expect((await kw(["roles", "get", role.id, "--json"])).json().permissions).toEqual(["compute:read"]);
    const roles = await kw(["roles", "list"]);
    expect(roles.stdout).toContain("deployer");

    const sa = (await kw(["service-accounts", "create", "billing", "--role", `${role.id}@${prj.id}`, "--json"])).json();
    expect(sa.id).toMatch(/^sa_/);
    expect(sa.roles).toEqual([{ roleId: role.id, projectId: prj.id }]);
    const saKey = await kw(["keys", "create", "billing key", "--owner", sa.id, "--json"]);
    expect(saKey.code, saKey.stderr).toBe(0);
    expect(saKey.json().apiKey.owner).toEqual({ type: "service_account", id: sa.id });
    expect((await kw(["sa", "update", sa.id, "--name", "billing-svc", "--json"])).json().name).toBe("billing-svc");

    const members = await kw(["members", "list", "--json"]);
    expect(members.code).toBe(0);
    expect(JSON.stringify(members.json())).toContain(suite.server.email);
    const invite = await kw(["members", "invite", "dev@example.com", "--role", "role_member", "--json"]);
    expect(invite.code, invite.stderr).toBe(0);
    expect(invite.json().token).toBeTruthy();
    const pending = await kw(["members", "invitations"]);
    expect(pending.code, pending.stderr).toBe(0);
    expect(pending.stdout).toContain("dev@example.com");
    expect(pending.stdout).toContain("role_member");
    expect((await kw(["members", "uninvite", invite.json().invitation.id, "--yes"])).code).toBe(0);
    expect((await kw(["members", "invitations", "--json"])).json().items).toEqual([]);

    expect((await kw(["sa", "delete", sa.id, "--yes"])).code).toBe(0);
    expect((await kw(["roles", "delete", role.id, "--yes"])).code).toBe(0);
    expect((await kw(["projects", "delete", prj.id, "--yes"])).code).toBe(0);
    expect((await kw(["projects", "get", prj.id])).code).toBe(1);
  });

  it("creates and switches organizations", async () => {
    const org = (await kw(["orgs", "create", "Acme", "--json"])).json();
    expect(org.id).toMatch(/^org_/);
    expect((await kw(["orgs", "list", "--json"])).json().items).toHaveLength(2);
    expect((await kw(["orgs", "use", org.id])).code).toBe(0);
    expect((await kw(["projects", "create", "in-acme", "--json"])).json().orgId).toBe(org.id);
    expect(
      (await kw(["orgs", "update", org.id, "--setting", "requireExpiry=true", "--json"])).json().settings.requireExpiry,
    ).toBe(true);
    const noExpiry = await kw(["keys", "create", "needs expiry"]);
    expect(noExpiry.code).toBe(1);
    expect((await kw(["orgs", "delete", org.id, "--yes"])).code).toBe(0);
    expect((await kw(["orgs", "use", orgId])).code).toBe(0);
  });

  it("lists audit events with filters", async () => {
    const r = await kw(["audit", "list", "--action", "api_key.*", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const actions = r.json().items.map((e: { action: string }) => e.action);
    expect(actions).toContain("api_key.create");
    expect(actions).toContain("api_key.delete");
    expect(actions.every((a: string) => a.startsWith("api_key."))).toBe(true);
    const keys = (await kw(["audit", "list", "--target-type", "api_key", "--result", "success", "--json"])).json();
    expect(keys.items.length).toBeGreaterThan(0);
    expect(keys.items.every((e: { target: { type: string }; result: string }) => e.target.type === "api_key")).toBe(
      true,
    );
    expect((await kw(["audit", "list", "--result", "nonsense"])).code).toBe(1);
    const page = (await kw(["audit", "list", "--limit", "2", "--json"])).json();
    expect(page.items).toHaveLength(2);
    expect(page.nextCursor).toBeTruthy();
    const next = (await kw(["audit", "list", "--limit", "2", "--cursor", page.nextCursor, "--json"])).json();
    expect(next.items[0].id).not.toBe(page.items[0].id);
    const everything = (await kw(["audit", "list", "--limit", "2", "--all", "--json"])).json();
    expect(everything.items.length).toBeGreaterThan(4);
    expect(everything.nextCursor).toBeNull();
    const table = await kw(["audit", "list", "--limit", "3"]);
    expect(table.stdout).toContain("ACTION");
  });

  it("runs migrate and admin reset-password on the local database", async () => {
    const migrated = await kw(["migrate", "--json"], suite.server.env);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.json().migrated).toBe(true);

    const reset = await kw(["admin", "reset-password", suite.server.email, "--json"], suite.server.env);
    expect(reset.code, reset.stderr).toBe(0);
    const { password } = reset.json();
    expect(password.length).toBeGreaterThanOrEqual(16);
    // The old session ended; the new password signs in.
    expect((await kw(["whoami"])).code).toBe(1);
    const login = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin"],
      {},
      password,
    );
    expect(login.code, login.stderr).toBe(0);
    const chosen = await kw(
      ["admin", "reset-password", suite.server.email, "--password-stdin"],
      suite.server.env,
      `${suite.server.password}\n`,
    );
    expect(chosen.code).toBe(0);
    expect(chosen.stdout).not.toContain(suite.server.password);
    // One login would refuse (over 256 characters) is not set.
    const long = await kw(
      ["admin", "reset-password", suite.server.email, "--password-stdin"],
      suite.server.env,
      `${"x".repeat(300)}\n`,
    );
    expect(long.code).toBe(2);
    expect(long.stderr).toContain("12 to 256");
    // Both resets are in the audit log, with no secret in them.
    const db = new (createRequire(path.join(REPO_ROOT, "packages/server/package.json"))("better-sqlite3"))(
      path.join(suite.server.dataDir, "keyward.db"),
      { readonly: true },
    );
    const events = db
      .prepare("select * from audit_events where action = 'user.password.reset' order by created_at")
      .all() as { actor_type: string; target_type: string; details: string; user_agent: string }[];
    db.close();
    expect(events).toHaveLength(2);
    expect(events.map((e) => JSON.parse(e.details).generated)).toEqual([true, false]);
    expect(events[0]).toMatchObject({
      actor_type: "anonymous",
      target_type: "user",
      user_agent: "keyward admin reset-password",
    });
    expect(JSON.stringify(events)).not.toContain(password);
    expect(JSON.stringify(events)).not.toContain(suite.server.password);
    const missing = await kw(["admin", "reset-password", "nobody@example.com"], suite.server.env);
    expect(missing.code).toBe(2);
    const relogin = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin"],
      {},
      suite.server.password,
    );
    expect(relogin.code).toBe(0);
  });

  it("logs in with an API key from KEYWARD_API_KEY into another profile, and logs out", async () => {
    const { secret } = (await kw(["keys", "create", "profile key", "--json"])).json();
    const r = await kw(["login", "--url", suite.server.url, "--profile", "ci", "--json"], { KEYWARD_API_KEY: secret });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().orgId).toBe(orgId);
    const me = await kw(["whoami", "--profile", "ci", "--json"]);
    expect(me.json().credential.type).toBe("api_key");
    const out = await kw(["logout", "--profile", "ci"]);
    expect(out.code).toBe(0);
    expect((await kw(["whoami", "--profile", "ci"])).code).toBe(1);
  });
});

describe("keyward serve", () => {
  it("starts the server like npm start", async () => {
    const { spawn } = await import("node:child_process");
    const { BIN } = await import("./run.js");
    const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-serve-"));
    const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir], {
      env: { ...process.env, KEYWARD_ADMIN_PASSWORD: "serve-password-123", KEYWARD_LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no listen line:\n${out}`)), 45_000);
        const on = (c: Buffer) => {
          out += c;
          const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1]);
          }
        };
        child.stdout.on("data", on);
        child.stderr.on("data", on);
        child.on("exit", (code) => reject(new Error(`serve exited ${code}:\n${out}`)));
      });
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      // The first-start notice follows the listen line.
      for (let i = 0; i < 50 && !out.includes("first start"); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain("first start");
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
