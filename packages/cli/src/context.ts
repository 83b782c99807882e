import { type KeywardClient, KeywardError, createKeywardClient } from "@keyward/sdk";
import type { Command } from "commander";
import { type Profile, configPath, profileName, readConfig } from "./config.js";
import { type Io, defaultIo } from "./output.js";
import { UsageError } from "./parse.js";

export interface GlobalOpts {
  json?: boolean;
  profile?: string;
  url?: string;
  org?: string;
}

export interface Ctx {
  io: Io;
  opts: GlobalOpts;
  profileName: string;
  profile: Profile | undefined;
  /** Base URL: --url, KEYWARD_URL, the profile's. */
  url(): string;
  /** A client with the credential; `{ optional: true }`: without one when none is set (public routes). */
  client(opts?: { optional?: boolean }): KeywardClient;
  /** --org, KEYWARD_ORG, the org of KEYWARD_API_KEY (a key has one), the profile's default org. */
  orgId(): Promise<string>;
}

export function makeCtx(cmd: Command): Ctx {
  const opts = cmd.optsWithGlobals() as GlobalOpts;
  const config = readConfig();
  const name = profileName(opts.profile, config);
  const profile = config.profiles[name];
  const io = defaultIo(Boolean(opts.json));
  const url = () => {
    const u = opts.url || process.env.KEYWARD_URL || profile?.url;
    if (!u) throw new UsageError("No Keyward URL: run `keyward login --url <url>`, or pass --url / set KEYWARD_URL");
    return u.replace(/\/+$/, "");
  };
  let keyOrg: Promise<string | undefined> | undefined;
  const ctx: Ctx = {
    io,
    opts,
    profileName: name,
    profile,
    url,
    client(o = {}) {
      const saved = profile?.apiKey || profile?.token;
      const credential = process.env.KEYWARD_API_KEY || saved;
      if (!credential && o.optional)
        return createKeywardClient({ baseUrl: url(), headers: { "user-agent": "keyward-cli" } });
      if (!credential) {
        throw new KeywardError({
          type: "about:blank",
          title: "Not signed in",
          status: 401,
          detail: `Not signed in (profile "${name}", ${configPath()}): run \`keyward login\` or set KEYWARD_API_KEY`,
          code: "UNAUTHENTICATED",
        });
      }
      const base = url();
      // A profile's credential goes only to the server it was given for: --url or KEYWARD_URL
      // naming another must not carry it there.
      if (!process.env.KEYWARD_API_KEY && profile && profile.url.replace(/\/+$/, "") !== base) {
        throw new UsageError(
          `Profile "${name}" holds credentials for ${profile.url}, not ${base}: sign in there with \`keyward login --url ${base} --profile <name>\`, or set KEYWARD_API_KEY`,
        );
      }
      return createKeywardClient({ baseUrl: base, apiKey: credential, headers: { "user-agent": "keyward-cli" } });
    },
    async orgId() {
      const named = opts.org || process.env.KEYWARD_ORG;
      if (named) return named;
      // A key acts in its own org only: not in the profile's, which may be another.
      if (process.env.KEYWARD_API_KEY) {
        keyOrg ??= ctx
          .client()
          .GET("/v1/me")
          .then((r) => (r.data as { orgId?: string } | undefined)?.orgId);
        const id = await keyOrg;
        if (id) return id;
      }
      const id = profile?.orgId;
      if (!id) throw new UsageError("No organization: pass --org <orgId> or run `keyward orgs use <orgId>`");
      return id;
    },
  };
  return ctx;
}
