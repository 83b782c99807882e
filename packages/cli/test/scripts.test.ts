/**
 * What an operator or a script meets beyond the happy path: keys acting in their own org,
 * profiles and the org a profile works in, names that reach the terminal, and arguments the
 * CLI refuses itself (exit 2, JSON under --json). Each case failed before its fix.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cliSuite } from "./run.js";

const { suite, kw } = cliSuite("keyward-cli-scripts-");
const ESC = String.fromCharCode(27);

async function signIn(extra: string[] = []) {
  const r = await kw(
    ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin", "--json", ...extra],
    {},
    `${suite.server.password}\n`,
  );
  expect(r.code, r.stderr).toBe(0);
  return r.json() as { orgId: string };
}

describe("keys", () => {
  it("keys regenerate escapes control characters of the key's name (never passed to the terminal)", async () => {
    await signIn();
    const evil = `rotate-me${ESC}]0;owned${String.fromCharCode(7)}${ESC}[2J`;
    const created = await kw(["keys", "create", evil, "--json"]);
    expect(created.code, created.stderr).toBe(0);
    const r = await kw(["keys", "regenerate", created.json().apiKey.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/kw_\w+/);
    // stdout is not a TTY: the CLI adds no colour, so any ESC comes from the key's name.
    expect(r.stdout).not.toContain(ESC);
  });
});

describe("orgs and credentials", () => {
  it("KEYWARD_API_KEY acts in the key's own org (as whoami reports), not the profile's other org", async () => {
    const { orgId: profileOrg } = await signIn();
    const other = await kw(["orgs", "create", "Other Co", "--json"]);
    expect(other.code, other.stderr).toBe(0);
    const otherOrg = other.json().id as string;
    const made = await kw(["keys", "create", "other-org key", "--org", otherOrg, "--json"]);
    expect(made.code, made.stderr).toBe(0);
    const { apiKey, secret } = made.json();
    expect(apiKey.orgId).toBe(otherOrg);
    expect(otherOrg).not.toBe(profileOrg);

    const me = await kw(["whoami", "--json"], { KEYWARD_API_KEY: secret });
    expect(me.json().orgId).toBe(otherOrg);
    // Key commands act in the key's org too (they went to the profile's: 404, exit 1).
    const list = await kw(["keys", "list", "--json"], { KEYWARD_API_KEY: secret });
    expect(list.stderr).toBe("");
    expect(list.code).toBe(0);
    expect(list.json().items.map((k: { id: string }) => k.id)).toContain(apiKey.id);

    // A script with only KEYWARD_URL and KEYWARD_API_KEY (no profile) needs no --org either.
    const bare = mkdtempSync(path.join(tmpdir(), "keyward-cli-bare-"));
    try {
      const noProfile = await kw(["keys", "list", "--json"], {
        XDG_CONFIG_HOME: bare,
        KEYWARD_URL: suite.server.url,
        KEYWARD_API_KEY: secret,
      });
      expect(noProfile.stderr).toBe("");
      expect(noProfile.code).toBe(0);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });

  it("logging in to a second profile does not make it the current one (README: the first login becomes the current one)", async () => {
    await signIn();
    const { secret } = (await kw(["keys", "create", "ci profile key", "--json"])).json();
    // The README's own example of a second profile.
    const ci = await kw(["login", "--url", suite.server.url, "--profile", "ci", "--json"], {
      KEYWARD_API_KEY: secret,
    });
    expect(ci.code, ci.stderr).toBe(0);
    try {
      // Without --profile, the interactive user's commands still run as that user.
      const me = await kw(["whoami", "--json"]);
      expect(me.code, me.stderr).toBe(0);
      expect(me.json().profile).toBe("default");
      expect(me.json().credential.type).toBe("session");
      // Switching is explicit.
      const profiles = await kw(["profiles", "list", "--json"]);
      expect(profiles.json().current).toBe("default");
      expect(
        profiles
          .json()
          .items.map((p: { name: string }) => p.name)
          .sort(),
      ).toEqual(["ci", "default"]);
      expect(JSON.stringify(profiles.json())).not.toContain(secret);
      expect((await kw(["profiles", "use", "ci"])).code).toBe(0);
      expect((await kw(["whoami", "--json"])).json().credential.type).toBe("api_key");
      expect((await kw(["profiles", "use", "default"])).code).toBe(0);
      expect((await kw(["profiles", "use", "nobody"])).code).toBe(2);
    } finally {
      await kw(["logout", "--profile", "ci"]);
    }
  });

  it("login --org sets the profile's current org", async () => {
    await signIn();
    const other = (await kw(["orgs", "create", "Login Org", "--json"])).json().id as string;
    const r = await signIn(["--org", other]);
    expect(r.orgId).toBe(other);
  });

  it("after the documented first sign-in flow (login with a generated password, then `keyward password`) key commands work", async () => {
    const reset = await kw(["admin", "reset-password", suite.server.email, "--json"], suite.server.env);
    expect(reset.code, reset.stderr).toBe(0);
    const { password } = reset.json();
    const login = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin", "--profile", "fresh"],
      {},
      `${password}\n`,
    );
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain("keyward password");
    const changed = await kw(
      ["password", "--stdin", "--profile", "fresh"],
      {},
      `${password}\n${suite.server.password}\n`,
    );
    expect(changed.code, changed.stderr).toBe(0);
    // The quick start's next step works (the profile had no org: exit 2 "No organization").
    const list = await kw(["keys", "list", "--profile", "fresh"]);
    expect(list.stderr).toBe("");
    expect(list.code).toBe(0);
  });

  it("orgs delete of the current org does not leave the profile pointing at an org that is gone", async () => {
    const { orgId: home } = await signIn();
    const tmp = await kw(["orgs", "create", "Short-lived", "--use", "--json"]);
    expect(tmp.code, tmp.stderr).toBe(0);
    expect((await kw(["orgs", "delete", tmp.json().id, "--yes"])).code).toBe(0);
    // No org-scoped command goes on to answer 404 "Organization not found", with no hint why.
    const list = await kw(["keys", "list"]);
    expect(list.stderr).not.toMatch(/Organization not found/);
    const me = await kw(["whoami", "--json"]);
    expect(me.json().currentOrgId).not.toBe(tmp.json().id);
    await kw(["orgs", "use", home]);
  });
});

describe("public routes", () => {
  it("lists the permission catalog without signing in", async () => {
    const bare = mkdtempSync(path.join(tmpdir(), "keyward-cli-bare-"));
    try {
      const r = await kw(["permissions", "--json"], { XDG_CONFIG_HOME: bare, KEYWARD_URL: suite.server.url });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.json().items.map((p: { name: string }) => p.name)).toContain("compute:read");
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});

describe("invitations", () => {
  it("accepts an invitation from the CLI, making the invitee's account", async () => {
    await signIn();
    const invited = await kw(["members", "invite", "cli-invitee@example.com", "--role", "role_member", "--json"]);
    expect(invited.code, invited.stderr).toBe(0);
    const bare = mkdtempSync(path.join(tmpdir(), "keyward-cli-bare-"));
    try {
      const env = { XDG_CONFIG_HOME: bare, KEYWARD_URL: suite.server.url };
      const accepted = await kw(
        ["members", "accept", invited.json().token, "--name", "CLI Invitee", "--password-stdin", "--json"],
        env,
        "invitee-password-123\n",
      );
      expect(accepted.code, accepted.stderr).toBe(0);
      expect(accepted.json()).toMatchObject({ created: true, orgId: invited.json().invitation.orgId });
      // Used: the same token again is refused.
      expect((await kw(["members", "accept", invited.json().token], env)).code).toBe(1);
      const login = await kw(
        ["login", "--url", suite.server.url, "--email", "cli-invitee@example.com", "--password-stdin"],
        env,
        "invitee-password-123\n",
      );
      expect(login.code, login.stderr).toBe(0);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});

describe("admin", () => {
  it("reset-password takes what login takes: 200 characters beyond the BMP (400 UTF-16 units)", async () => {
    const keys = "\u{1F511}".repeat(200);
    const reset = await kw(
      ["admin", "reset-password", suite.server.email, "--password-stdin"],
      suite.server.env,
      `${keys}\n`,
    );
    expect(reset.code, reset.stderr).toBe(0);
    const login = await kw(
      ["login", "--url", suite.server.url, "--email", suite.server.email, "--password-stdin"],
      {},
      `${keys}\n`,
    );
    expect(login.code, login.stderr).toBe(0);
    const back = ["admin", "reset-password", suite.server.email, "--password-stdin"];
    expect((await kw(back, suite.server.env, `${suite.server.password}\n`)).code).toBe(0);
  });
});

describe("arguments and scripting", () => {
  it("a bad --limit or --ttl is a bad argument (exit 2), as the README promises for bad values", async () => {
    await signIn();
    for (const limit of ["0", "abc", "500"]) {
      const r = await kw(["keys", "list", "--limit", limit]);
      expect(r.code, `--limit ${limit}: ${r.stderr}`).toBe(2);
    }
    expect((await kw(["token", "kw_x", "--ttl", "7200"])).code).toBe(2);
  });

  it("with --json, every error on stderr is JSON (argument errors from the parser too)", async () => {
    await signIn();
    // A UsageError is JSON…
    const badExpiry = await kw(["keys", "create", "x", "--expires", "soon", "--json"]);
    expect(badExpiry.code).toBe(2);
    expect(JSON.parse(badExpiry.stderr).error.code).toBe("USAGE");
    // …and so are the parser's own refusals (they were plain text).
    for (const args of [
      ["keys", "get", "--json"],
      ["keys", "create", "x", "--bogus", "--json"],
      ["keys", "regenerate", "--json"],
    ]) {
      const r = await kw(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(() => JSON.parse(r.stderr), `${args.join(" ")}: ${r.stderr}`).not.toThrow();
    }
  });
});
