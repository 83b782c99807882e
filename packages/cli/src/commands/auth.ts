import { Command } from "commander";
import { createKeywardClient } from "@keyward/sdk";
import { api } from "../api.js";
import { type Profile, configPath, profileName, readConfig, writeConfig } from "../config.js";
import { bold, printJson, printRecord, printTable } from "../output.js";
import type { Ctx } from "../context.js";
import { UsageError } from "../parse.js";
import { act, examples, readStdin } from "./util.js";

async function prompt(kind: "text" | "password", message: string): Promise<string> {
  if (!process.stdin.isTTY)
    throw new UsageError(`${message}: not a terminal; pass it as a flag, through stdin or the environment`);
  const p = await import("@clack/prompts");
  const v = kind === "text" ? await p.text({ message }) : await p.password({ message });
  if (p.isCancel(v)) throw new UsageError("Cancelled");
  return String(v);
}

export function loginCommand(): Command {
  return examples(
    new Command("login")
      .description("sign in and save the credentials in a profile (mode 0600)")
      .option("--email <email>", "your console login")
      .option("--password-stdin", "read the password from stdin (else KEYWARD_PASSWORD, else a prompt)")
      .addHelpText(
        "after",
        "\nWith KEYWARD_API_KEY set and no --email, the API key is checked and saved instead of a session.\nProfiles live in $XDG_CONFIG_HOME/keyward/config.json (default ~/.config/keyward/config.json).",
      ),
    [
      "keyward login --url https://keys.example.com --email me@example.com",
      'echo "$PASSWORD" | keyward login --url http://localhost:8080 --email me@example.com --password-stdin',
      "KEYWARD_API_KEY=kw_… keyward login --url http://localhost:8080 --profile ci",
    ],
  ).action(
    act(async (ctx, o: { email?: string; passwordStdin?: boolean }) => {
      const url = ctx.url();
      const profile: Profile = { url };
      let mustChange = false;
      if (!o.email && process.env.KEYWARD_API_KEY) {
        const apiKey = process.env.KEYWARD_API_KEY;
        const me = await (await createKeywardClient({ baseUrl: url, apiKey }).GET("/v1/me")).data;
        profile.apiKey = apiKey;
        if (me?.orgId) profile.orgId = me.orgId;
      } else {
        const email = o.email ?? (await prompt("text", "Email"));
        const password = o.passwordStdin
          ? await readStdin()
          : (process.env.KEYWARD_PASSWORD ?? (await prompt("password", "Password")));
        if (plainHttpElsewhere(url))
          ctx.io.err(`Warning: ${url} is plain http: the password crosses the network unencrypted. Use https.`);
        const session = await (
          await createKeywardClient({ baseUrl: url }).POST("/v1/auth/login", { body: { email, password } })
        ).data;
        if (!session) throw new Error("empty login response");
        profile.token = session.token;
        profile.email = session.user.email;
        profile.expiresAt = session.expiresAt;
        mustChange = session.user.mustChangePassword;
        // A generated or reset password opens nothing but its own change: no orgs to list yet.
        if (!mustChange) {
          const client = createKeywardClient({ baseUrl: url, apiKey: session.token });
          const orgs = (await client.GET("/v1/orgs", { params: { query: { limit: 200 } } })).data;
          profile.orgId = chooseOrg(ctx, url, orgs?.items ?? []);
        }
      }
      const config = readConfig();
      config.profiles[ctx.profileName] = profile;
      // The first login becomes the current profile; another is used with --profile, or made
      // current with `keyward profiles use`.
      if (!config.current) config.current = ctx.profileName;
      writeConfig(config);
      if (mustChange)
        ctx.io.err(
          "This password was generated or reset: choose your own with `keyward password` before anything else.",
        );
      if (ctx.io.json)
        return printJson(ctx.io, {
          profile: ctx.profileName,
          url,
          email: profile.email,
          orgId: profile.orgId ?? null,
          mustChangePassword: mustChange,
        });
      ctx.io.out(`Signed in to ${url} as ${bold(ctx.io, profile.email ?? "API key")} (profile "${ctx.profileName}")`);
      if (profile.orgId) ctx.io.out(`Current org: ${profile.orgId} (change it with \`keyward orgs use <orgId>\`)`);
    }),
  );
}

export function logoutCommand(): Command {
  return examples(new Command("logout").description("end the session and forget the profile's credentials"), [
    "keyward logout",
    "keyward logout --profile ci",
  ]).action(
    act(async (ctx) => {
      const config = readConfig();
      const name = profileName(ctx.opts.profile, config);
      const profile = config.profiles[name];
      if (!profile) throw new UsageError(`No profile "${name}" in ${configPath()}`);
      if (profile.token) {
        // Ends the session server-side too; one already ended (401) is fine. Any other failure
        // keeps the profile: the session still works, and `keyward logout` can be run again.
        const ended = await createKeywardClient({ baseUrl: profile.url, apiKey: profile.token, throwOnError: false })
          .POST("/v1/auth/logout")
          .then(
            (r) => r.response.status === 204 || r.response.status === 401,
            () => false,
          );
        if (!ended)
          throw new Error(
            `Could not end the session at ${profile.url}: it is still valid, and the profile is kept. Try again when the server answers.`,
          );
      }
      delete config.profiles[name];
      if (config.current === name) config.current = undefined;
      writeConfig(config);
      if (ctx.io.json) printJson(ctx.io, { profile: name, loggedOut: true });
      else ctx.io.out(`Signed out of ${profile.url} (profile "${name}")`);
    }),
  );
}

export function passwordCommand(): Command {
  return examples(
    new Command("password")
      .description("change your console password (the session's user)")
      .option("--stdin", "read the current password and the new one from stdin, one per line"),
    ["keyward password", 'printf "%s\\n%s\\n" "$OLD" "$NEW" | keyward password --stdin'],
  ).action(
    act(async (ctx, o: { stdin?: boolean }) => {
      let current: string;
      let next: string;
      if (o.stdin) {
        [current = "", next = ""] = (await readStdin()).split(/\r?\n/);
      } else {
        current = await prompt("password", "Current password");
        next = await prompt("password", "New password (at least 12 characters)");
        if ((await prompt("password", "New password again")) !== next) throw new UsageError("The new passwords differ");
      }
      await api(ctx, "POST", "/v1/me/password", { body: { currentPassword: current, newPassword: next } });
      // A login with a generated password chose no org (it could list none): choose one now.
      if (ctx.profile && !ctx.profile.orgId && !process.env.KEYWARD_API_KEY) {
        const orgs = await api(ctx, "GET", "/v1/orgs", { query: { limit: 200 } });
        const config = readConfig();
        const saved = config.profiles[ctx.profileName];
        if (saved) {
          saved.orgId = chooseOrg(ctx, saved.url, orgs.items ?? []);
          writeConfig(config);
        }
      }
      if (ctx.io.json) return printJson(ctx.io, { changed: true });
      ctx.io.out("Password changed; your other sessions were signed out.");
    }),
  );
}

/**
 * The org a profile works in after signing in: the one named (--org, KEYWARD_ORG) if a member;
 * else the profile's earlier one, on the same server; else the first.
 */
function chooseOrg(ctx: Ctx, url: string, orgs: readonly { id: string }[]): string | undefined {
  const has = (id: string | undefined) => !!id && orgs.some((org) => org.id === id);
  const named = ctx.opts.org || process.env.KEYWARD_ORG;
  if (named && !has(named)) ctx.io.err(`Warning: you are not a member of ${named}; working in another org.`);
  if (has(named)) return named;
  const previous = readConfig().profiles[ctx.profileName];
  if (previous?.url === url && has(previous.orgId)) return previous.orgId;
  return orgs[0]?.id;
}

/** `keyward profiles`: the saved sign-ins, and which one commands use. */
export function profilesCommand(): Command {
  const profiles = examples(new Command("profiles").description("saved sign-ins (profiles)"), [
    "keyward profiles list",
    "keyward profiles use ci",
  ]);
  examples(profiles.command("list").alias("ls").description("list profiles; * marks the current one"), [
    "keyward profiles list --json",
  ]).action(
    act(async (ctx) => {
      const config = readConfig();
      const rows = Object.entries(config.profiles).map(([name, p]) => ({
        name,
        current: name === config.current,
        url: p.url,
        email: p.email ?? null,
        orgId: p.orgId ?? null,
        credential: p.apiKey ? "api key" : p.token ? "session" : "none",
      }));
      if (ctx.io.json) return printJson(ctx.io, { items: rows, current: config.current ?? null });
      printTable(ctx.io, rows, [
        ["", (r) => (r.current ? "*" : "")],
        ["NAME", (r) => r.name],
        ["URL", (r) => r.url],
        ["EMAIL", (r) => r.email ?? ""],
        ["ORG", (r) => r.orgId ?? ""],
        ["CREDENTIAL", (r) => r.credential],
      ]);
    }),
  );
  examples(profiles.command("use").description("make a profile the current one").argument("<name>"), [
    "keyward profiles use ci",
  ]).action(
    act(async (ctx, name: string) => {
      const config = readConfig();
      if (!config.profiles[name]) throw new UsageError(`No profile "${name}": run \`keyward profiles list\``);
      config.current = name;
      writeConfig(config);
      if (ctx.io.json) return printJson(ctx.io, { current: name });
      ctx.io.out(`Now using profile ${name}`);
    }),
  );
  return profiles;
}

/** An http:// URL to a host other than this machine: a password sent there can be read on the way. */
function plainHttpElsewhere(url: string): boolean {
  const u = new URL(url);
  return u.protocol === "http:" && !["localhost", "127.0.0.1", "[::1]"].includes(u.hostname);
}

export function whoamiCommand(): Command {
  return examples(new Command("whoami").description("who the current credentials are"), [
    "keyward whoami --json",
  ]).action(
    act(async (ctx) => {
      const me = await api(ctx, "GET", "/v1/me");
      if (ctx.io.json)
        return printJson(ctx.io, {
          ...me,
          url: ctx.url(),
          profile: ctx.profileName,
          currentOrgId: ctx.profile?.orgId ?? null,
        });
      printRecord(ctx.io, {}, [
        ["url", ctx.url()],
        ["profile", process.env.KEYWARD_API_KEY ? `${ctx.profileName} (KEYWARD_API_KEY overrides)` : ctx.profileName],
        ["principal", `${me.principal?.type} ${me.principal?.id}`],
        ["email", me.user?.email],
        ["credential", `${me.credential?.type} ${me.credential?.id}`],
        ["org", me.orgId ?? ctx.profile?.orgId],
      ]);
    }),
  );
}
