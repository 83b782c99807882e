import { KeywardError } from "@keyward/sdk";
import { Command } from "commander";
import { api } from "../api.js";
import { bold, green, printJson, printRecord, red } from "../output.js";
import { collect, parseIntArg } from "../parse.js";
import { act, examples, secretArgument } from "./util.js";

export function verifyCommand(): Command {
  return examples(
    new Command("verify")
      .description("check a key as a platform service would (needs iam:apikeys:verify); exit 1 when refused")
      .argument("<key>", "the secret (or token) to check; - reads it from stdin, out of ps and shell history")
      .option("--permission <perm>", "a permission the request needs (repeatable)", collect)
      .option("--project <projectId>", "the project the request acts in")
      .option("--ip <address>", "the client address")
      .option("--method <method>", "the HTTP method of the request (read-only keys may only read)"),
    ["keyward verify kw_… --permission compute:read", "printenv KEY | keyward verify - --ip 10.1.2.3 --json"],
  ).action(
    act(async (ctx, arg: string, o: { permission?: string[]; project?: string; ip?: string; method?: string }) => {
      const key = await secretArgument(arg);
      const body = { key, permissions: o.permission, projectId: o.project, ip: o.ip, method: o.method };
      const result = await api(ctx, "POST", "/v1/verify", { body: JSON.parse(JSON.stringify(body)) });
      if (ctx.io.json) printJson(ctx.io, result);
      else if (result.valid) {
        ctx.io.out(green(ctx.io, "valid"));
        printRecord(ctx.io, {}, [
          ["key", result.keyId],
          ["org", result.orgId],
          ["owner", result.owner ? `${result.owner.type} ${result.owner.id}` : undefined],
          ["permissions", result.permissions],
          ["project", result.projectId ?? undefined],
          ["expires", result.expiresAt ?? "never"],
          [
            "rate limit",
            result.ratelimit
              ? `${result.ratelimit.remaining} of ${result.ratelimit.limit} left, until ${result.ratelimit.resetAt}`
              : undefined,
          ],
        ]);
      } else {
        ctx.io.out(`${red(ctx.io, "refused")}: ${bold(ctx.io, result.code)}`);
        if (result.ratelimit) ctx.io.out(`the key's limit resets at ${result.ratelimit.resetAt}`);
      }
      if (!result.valid) process.exitCode = 1;
    }),
  );
}

export function tokenCommand(): Command {
  return examples(
    new Command("token")
      .description("exchange a key for a short-lived signed token (prints the token)")
      .argument("<key>", "the secret to exchange; - reads it from stdin, out of ps and shell history")
      .option("--scope <perms>", "space-separated permissions to narrow the token to")
      .option("--project <projectId>", "narrow the token to one project")
      .option("--ttl <seconds>", "lifetime in seconds (≤ 3600)"),
    ["TOKEN=$(printenv KEY | keyward token -)", "keyward token kw_… --scope compute:read --json"],
  ).action(
    act(async (ctx, arg: string, o: { scope?: string; project?: string; ttl?: string }) => {
      const key = await secretArgument(arg);
      const form = new URLSearchParams({ grant_type: "urn:keyward:params:oauth:grant-type:apikey", apikey: key });
      if (o.scope) form.set("scope", o.scope);
      if (o.project) form.set("projectId", o.project);
      if (o.ttl) form.set("expires_in", String(parseIntArg(o.ttl, "--ttl", 1, 3600)));
      const res = await fetch(`${ctx.url()}/v1/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: form,
      });
      if (!res.ok) throw await KeywardError.fromResponse(res);
      const data = (await res.json()) as { access_token: string; expires_in: number; scope?: string };
      if (ctx.io.json) return printJson(ctx.io, data);
      ctx.io.out(data.access_token);
      ctx.io.err(`expires in ${data.expires_in}s; scope: ${data.scope || "(none)"}`);
    }),
  );
}
