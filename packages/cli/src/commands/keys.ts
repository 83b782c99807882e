import { randomUUID } from "node:crypto";
import { Command } from "commander";
import { api, compact, list, seg } from "../api.js";
import type { Ctx } from "../context.js";
import { type Column, bold, printJson, printList, printRecord, printTable, printable, yellow } from "../output.js";
import { UsageError, collect, parseDuration, parseExpires, parseOwner, parseRateLimit, usageBound } from "../parse.js";
import { act, confirm, examples, listOptions } from "./util.js";

// biome-ignore lint/suspicious/noExplicitAny: API records are printed as they come
type Key = Record<string, any>;

const KEY_COLUMNS: Column<Key>[] = [
  ["ID", (k) => k.id],
  ["NAME", (k) => k.name],
  ["START", (k) => `${k.start}…`],
  ["OWNER", (k) => k.owner?.id],
  ["STATUS", (k) => k.status],
  ["PERMISSIONS", (k) => (k.inheritsOwnerPermissions ? "(owner's)" : [...(k.permissions ?? []), ...(k.roles ?? [])])],
  ["EXPIRES", (k) => k.expiresAt ?? "never"],
  ["LAST USED", (k) => k.lastUsedAt],
];

function printKey(ctx: Ctx, k: Key) {
  if (ctx.io.json) return printJson(ctx.io, k);
  printRecord(ctx.io, k, [
    ["id", k.id],
    ["name", k.name],
    ["description", k.description],
    ["org", k.orgId],
    ["owner", k.owner ? `${k.owner.type} ${k.owner.id}` : undefined],
    ["status", k.status],
    ["start", `${k.start}…`],
    ["permissions", k.inheritsOwnerPermissions ? "all of the owner's" : k.permissions],
    ["roles", k.roles],
    ["read-only", k.readOnly],
    ["default project", k.defaultProjectId],
    ["allowed projects", k.allowedProjects ?? "any"],
    ["allowed IPs", k.allowedIps?.length ? k.allowedIps : "any"],
    ["rate limit", k.ratelimit ? `${k.ratelimit.limit}/${k.ratelimit.windowSeconds}s` : undefined],
    ["expires", k.expiresAt ?? "never"],
    ["created", `${k.createdAt} by ${k.createdBy}`],
    ["last used", k.lastUsedAt ? `${k.lastUsedAt} from ${k.lastUsedIp ?? "?"}` : "never"],
    ...(k.previousSecretExpiresAt ? [["previous secret until", k.previousSecretExpiresAt] as [string, unknown]] : []),
    ["version", k.version],
  ]);
}

/** The secret, once, with a warning (on stderr, so stdout stays parseable). */
function printSecret(ctx: Ctx, created: { apiKey: Key; secret: string }, verb: string) {
  if (ctx.io.json) return printJson(ctx.io, created);
  ctx.io.out(`${verb} key ${bold(ctx.io, created.apiKey.id)} (${printable(created.apiKey.name)})`);
  ctx.io.out("");
  ctx.io.out(`  ${bold(ctx.io, created.secret)}`);
  ctx.io.out("");
  ctx.io.err(yellow(ctx.io, "This secret is shown only once and cannot be recovered. Store it securely now."));
}

interface SettingsOpts {
  description?: string;
  permission?: string[];
  role?: string[];
  readOnly?: boolean;
  project?: string[];
  anyProject?: boolean;
  allowIp?: string[];
  anyIp?: boolean;
  defaultProject?: string;
  expires?: string;
  rateLimit?: string;
}

function settingsBody(o: SettingsOpts) {
  if (o.project && o.anyProject) throw new UsageError("--project and --any-project exclude each other");
  if (o.allowIp && o.anyIp) throw new UsageError("--allow-ip and --any-ip exclude each other");
  return compact({
    description: o.description,
    permissions: o.permission,
    roles: o.role,
    readOnly: o.readOnly,
    allowedProjects: o.anyProject ? null : o.project,
    allowedIps: o.anyIp ? [] : o.allowIp,
    defaultProjectId: o.defaultProject === "none" ? null : o.defaultProject,
    expiresAt: o.expires === undefined ? undefined : o.expires === "never" ? null : parseExpires(o.expires),
    ratelimit: o.rateLimit === undefined ? undefined : o.rateLimit === "none" ? null : parseRateLimit(o.rateLimit),
  });
}

function settingsOptions(cmd: Command, update: boolean): Command {
  cmd
    .option("--description <text>", "what the key is for")
    .option("--permission <perm>", "grant a permission or pattern (repeatable; compute:read, storage:*)", collect)
    .option("--role <roleId>", "grant a role's permissions (repeatable)", collect)
    .option("--read-only", "only read actions (read, list, get)")
    .option(
      "--project <projectId>",
      "restrict to a project (repeatable; the key then acts only there, nothing org-wide unless its default project is one)",
      collect,
    )
    .option("--allow-ip <cidr>", "restrict to an address or CIDR (repeatable)", collect)
    .option("--default-project <projectId>", "the key's preferred project")
    .option("--expires <when>", "30d, 12h, 2027-01-01 or an RFC 3339 instant")
    .option("--rate-limit <n/window>", "e.g. 100/60s");
  if (update) {
    cmd
      .option("--any-project", "remove the project restriction")
      .option("--any-ip", "remove the IP restriction")
      .addHelpText(
        "after",
        "\n--expires never, --rate-limit none and --default-project none clear those settings. A read-only key stays read-only: create a new key to write.",
      );
  }
  return cmd;
}

export function keysCommand(): Command {
  const keys = examples(new Command("keys").description("create, list, rotate and delete API keys"), [
    "keyward keys create ci --permission compute:read --expires 30d",
    "keyward keys list --view all",
    "keyward keys regenerate key_123 --grace 1h",
  ]);

  examples(
    settingsOptions(
      keys
        .command("create")
        .description("create a key; prints its secret once")
        .argument("<name>", "a name for the key (≤ 100 chars)")
        .option("--owner <id>", "owner: a service account (sa_…), project (prj_…) or user (usr_…); default: you"),
      false,
    ),
    [
      'keyward keys create "ci deploy" --permission compute:read --permission compute:write --expires 30d',
      "keyward keys create reporting --read-only --allow-ip 10.0.0.0/8 --project prj_123 --json",
      "keyward keys create bot --owner sa_123 --role role_viewer",
    ],
  ).action(
    act(async (ctx, name: string, o: SettingsOpts & { owner?: string }) => {
      const body = { name, ...settingsBody(o), ...(o.owner ? { owner: parseOwner(o.owner) } : {}) };
      const created = await api(ctx, "POST", `/v1/orgs/${seg(await ctx.orgId())}/api-keys`, { body });
      printSecret(ctx, created, "Created");
    }),
  );

  examples(
    listOptions(
      keys
        .command("list")
        .alias("ls")
        .description("list keys of the org")
        .option("--view <view>", "mine (default), users, service-accounts, projects, all, or a principal id"),
    ),
    ["keyward keys list", "keyward keys list --view all --json | jq '.items[].id'"],
  ).action(
    act(async (ctx, o: { view?: string; limit?: string; cursor?: string }) => {
      const page = await list(ctx, `/v1/orgs/${seg(await ctx.orgId())}/api-keys`, o, { view: o.view });
      printList(ctx.io, page, KEY_COLUMNS);
    }),
  );

  examples(keys.command("get").description("show one key").argument("<keyId>"), ["keyward keys get key_123"]).action(
    act(async (ctx, keyId: string) => printKey(ctx, await api(ctx, "GET", `/v1/api-keys/${seg(keyId)}`))),
  );

  examples(
    settingsOptions(
      keys
        .command("update")
        .description("change a key's name, description or restrictions")
        .argument("<keyId>")
        .option("--name <name>"),
      true,
    ),
    ["keyward keys update key_123 --name deploy --expires 90d", "keyward keys update key_123 --any-ip --read-only"],
  ).action(
    act(async (ctx, keyId: string, o: SettingsOpts & { name?: string }) => {
      const body = { ...compact({ name: o.name }), ...settingsBody(o) };
      if (Object.keys(body).length === 0)
        throw new UsageError("Nothing to update: pass --name, --description, --permission, …");
      printKey(ctx, await api(ctx, "PATCH", `/v1/api-keys/${seg(keyId)}`, { body }));
    }),
  );

  examples(
    keys
      .command("delete")
      .alias("rm")
      .description("delete a key (asks first)")
      .argument("<keyId>")
      .option("-y, --yes", "do not ask"),
    ["keyward keys delete key_123", "keyward keys delete key_123 --yes"],
  ).action(
    act(async (ctx, keyId: string, o: { yes?: boolean }) => {
      if (!(await confirm(ctx, `key ${keyId}`, o.yes))) return;
      await api(ctx, "DELETE", `/v1/api-keys/${seg(keyId)}`);
      if (ctx.io.json) printJson(ctx.io, { deleted: keyId });
      else ctx.io.out(`Deleted key ${keyId}`);
    }),
  );

  examples(
    keys
      .command("regenerate")
      .alias("rotate")
      .description("issue a new secret for the key; the old one stops now or after --grace")
      .argument("<keyId>")
      .option("--grace <duration>", "keep the old secret working this long (≤ 7d), e.g. 1h"),
    ["keyward keys regenerate key_123", "keyward keys regenerate key_123 --grace 1h --json"],
  ).action(
    act(async (ctx, keyId: string, o: { grace?: string }) => {
      const body = o.grace ? { graceSeconds: parseDuration(o.grace, "--grace") } : {};
      const created = await api(ctx, "POST", `/v1/api-keys/${seg(keyId)}/regenerate`, {
        body,
        headers: { "idempotency-key": randomUUID() },
      });
      printSecret(ctx, created, "Regenerated");
      if (!ctx.io.json && created.apiKey?.previousSecretExpiresAt) {
        ctx.io.err(`The previous secret keeps working until ${created.apiKey.previousSecretExpiresAt}.`);
      }
    }),
  );

  for (const [verb, text] of [
    ["disable", "lock a key without deleting it"],
    ["enable", "unlock a disabled key"],
  ] as const) {
    examples(keys.command(verb).description(text).argument("<keyId>"), [`keyward keys ${verb} key_123`]).action(
      act(async (ctx, keyId: string) => {
        const key = await api(ctx, "POST", `/v1/api-keys/${seg(keyId)}/${verb}`);
        if (ctx.io.json) printJson(ctx.io, key);
        else ctx.io.out(`Key ${keyId} is ${key?.status ?? (verb === "disable" ? "disabled" : "active")}`);
      }),
    );
  }

  examples(
    keys
      .command("allowed-permissions")
      .description("what you may grant to a new key")
      .option("--project <projectId>", "ask about one project (default: org-wide)"),
    ["keyward keys allowed-permissions", "keyward keys allowed-permissions --project prj_123 --json"],
  ).action(
    act(async (ctx, o: { project?: string }) => {
      const data = await api(ctx, "GET", `/v1/orgs/${seg(await ctx.orgId())}/api-keys/allowed-permissions`, {
        query: { projectId: o.project },
      });
      if (ctx.io.json) return printJson(ctx.io, data);
      if (!data.canCreate)
        ctx.io.err(yellow(ctx.io, "You may not create keys here (iam:apikeys:create or org policy)."));
      printList(ctx.io, { items: data.items ?? [] }, [
        ["PERMISSION", (p: Key) => p.name],
        ["DESCRIPTION", (p: Key) => p.description],
      ]);
    }),
  );

  examples(
    keys
      .command("usage")
      .description("request counts per hour and last use")
      .argument("<keyId>")
      .option("--from <when>", "start (a date: its midnight UTC; or an instant)")
      .option("--to <when>", "end (a date: that whole day UTC; or an instant, not included)"),
    ["keyward keys usage key_123 --from 2026-11-01 --to 2026-11-30"],
  ).action(
    act(async (ctx, keyId: string, o: { from?: string; to?: string }) => {
      const data = await api(ctx, "GET", `/v1/api-keys/${seg(keyId)}/usage`, {
        query: { from: usageBound(o.from, false), to: usageBound(o.to, true) },
      });
      if (ctx.io.json) return printJson(ctx.io, data);
      ctx.io.out(
        `${data.total} requests from ${data.from} to ${data.to}; last used ${data.lastUsedAt ?? "never"}${data.lastUsedIp ? ` from ${data.lastUsedIp}` : ""}`,
      );
      if (data.items?.length)
        printTable(ctx.io, data.items, [
          ["HOUR", (r: Key) => r.hour],
          ["REQUESTS", (r: Key) => r.count],
        ]);
    }),
  );
  return keys;
}
