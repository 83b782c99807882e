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
        const session = await (
          await createKeywardClient({ baseUrl: url }).POST("/v1/auth/login", { body: { email, password } })
        ).data;
        if (!session) throw new Error("empty login response");
        profile.token = session.token;
        profile.email = session.user.email;
        profile.expiresAt = session.expiresAt;
        const orgs = await (await createKeywardClient({ baseUrl: url, apiKey: session.token }).GET("/v1/orgs")).data;
        const previous = readConfig().profiles[ctx.profileName];
        const keep =
          previous?.url === url && orgs?.items.some((org) => org.id === previous.orgId) ? previous.orgId : undefined;
        profile.orgId = keep ?? orgs?.items[0]?.id;
      }
      const config = readConfig();
      config.profiles[ctx.profileName] = profile;
      if (!config.current || ctx.opts.profile) config.current = ctx.profileName;
      writeConfig(config);
      if (ctx.io.json)
        return printJson(ctx.io, { profile: ctx.profileName, url, email: profile.email, orgId: profile.orgId ?? null });
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
        // Ends the session server-side too; an expired session is fine.
        await createKeywardClient({ baseUrl: profile.url, apiKey: profile.token, throwOnError: false })
          .POST("/v1/auth/logout")
          .catch(() => undefined);
      }
      delete config.profiles[name];
      if (config.current === name) config.current = undefined;
      writeConfig(config);
      if (ctx.io.json) printJson(ctx.io, { profile: name, loggedOut: true });
      else ctx.io.out(`Signed out of ${profile.url} (profile "${name}")`);
    }),
  );
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
