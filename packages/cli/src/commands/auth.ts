import { Command } from "commander";
import { createKeywardClient } from "@keyward/sdk";
import { api } from "../api.js";
import { type Profile, configPath, profileName, readConfig, writeConfig } from "../config.js";
import { bold, printJson, printRecord } from "../output.js";
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
          const previous = readConfig().profiles[ctx.profileName];
          const keep =
            previous?.url === url && orgs?.items.some((org) => org.id === previous.orgId) ? previous.orgId : undefined;
          profile.orgId = keep ?? orgs?.items[0]?.id;
        }
      }
      const config = readConfig();
      config.profiles[ctx.profileName] = profile;
      if (!config.current || ctx.opts.profile) config.current = ctx.profileName;
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
      if (ctx.io.json) return printJson(ctx.io, { changed: true });
      ctx.io.out("Password changed; your other sessions were signed out.");
    }),
  );
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
