import { Command } from "commander";
import { api, compact, list, seg } from "../api.js";
import type { Ctx } from "../context.js";
import { profileName, readConfig, writeConfig } from "../config.js";
import { type Column, printJson, printList, printRecord } from "../output.js";
import { UsageError, collect, parseRoleBindings } from "../parse.js";
import { act, confirm, examples, listOptions, readStdin } from "./util.js";

// biome-ignore lint/suspicious/noExplicitAny: API records are printed as they come
type Rec = Record<string, any>;

const bindings = (r: Rec) => (r.roles ?? []).map((b: Rec) => (b.projectId ? `${b.roleId}@${b.projectId}` : b.roleId));

function show(ctx: Ctx, rec: Rec) {
  if (ctx.io.json) printJson(ctx.io, rec);
  else printRecord(ctx.io, rec);
}

function done(ctx: Ctx, what: string, id: string) {
  if (ctx.io.json) printJson(ctx.io, { deleted: id });
  else ctx.io.out(`Deleted ${what} ${id}`);
}

export function orgsCommand(): Command {
  const orgs = examples(new Command("orgs").description("organizations you belong to"), [
    "keyward orgs list",
    "keyward orgs use org_123",
  ]);
  const cols: Column<Rec>[] = [
    ["ID", (o) => o.id],
    ["NAME", (o) => o.name],
    ["CREATED", (o) => o.createdAt],
  ];
  examples(listOptions(orgs.command("list").alias("ls").description("list your organizations")), [
    "keyward orgs list --json",
  ]).action(act(async (ctx, o: Rec) => printList(ctx.io, await list(ctx, "/v1/orgs", o), cols)));
  examples(
    orgs
      .command("get")
      .description("show an organization and its key policy")
      .argument("[orgId]", "default: the current org"),
    ["keyward orgs get org_123"],
  ).action(
    act(async (ctx, orgId?: string) =>
      show(ctx, await api(ctx, "GET", `/v1/orgs/${seg(orgId ?? (await ctx.orgId()))}`)),
    ),
  );
  examples(
    orgs
      .command("create")
      .description("create an organization (you become its owner)")
      .argument("<name>")
      .option("--use", "make it the current org"),
    ['keyward orgs create "Acme Inc" --use'],
  ).action(
    act(async (ctx, name: string, o: { use?: boolean }) => {
      const org = await api(ctx, "POST", "/v1/orgs", { body: { name } });
      if (o.use) setCurrentOrg(ctx, org.id);
      show(ctx, org);
    }),
  );
  examples(
    orgs
      .command("update")
      .description("rename an organization or change its key policy")
      .argument("<orgId>")
      .option("--name <name>")
      .option(
        "--setting <key=value>",
        "a policy setting (repeatable): restrictKeyCreation, requireExpiry, inviterManagesKeys=true|false; maxKeyLifetimeDays, maxKeysPerUser=N|none; allowedIps=CIDR,CIDR",
        (v: string, prev: string[] = []) => [...prev, v],
      ),
    [
      "keyward orgs update org_123 --setting requireExpiry=true --setting maxKeyLifetimeDays=90",
      "keyward orgs update org_123 --setting allowedIps=10.0.0.0/8,192.0.2.7",
    ],
  ).action(
    act(async (ctx, orgId: string, o: { name?: string; setting?: string[] }) => {
      const settings: Rec = {};
      for (const s of o.setting ?? []) {
        const i = s.indexOf("=");
        if (i < 1) throw new UsageError(`--setting: "${s}" should be key=value`);
        const key = s.slice(0, i);
        const raw = s.slice(i + 1);
        let value: unknown = raw;
        if (key === "allowedIps")
          value = raw
            .split(",")
            .map((v) => v.trim())
            .filter(Boolean);
        else if (raw === "null" || raw === "none") value = null;
        else {
          try {
            value = JSON.parse(raw);
          } catch {
            value = raw;
          }
        }
        settings[key] = value;
      }
      const body = compact({ name: o.name, settings: o.setting ? settings : undefined });
      if (Object.keys(body).length === 0) throw new UsageError("Nothing to update: pass --name or --setting");
      show(ctx, await api(ctx, "PATCH", `/v1/orgs/${seg(orgId)}`, { body }));
    }),
  );
  examples(
    orgs
      .command("delete")
      .description("delete an organization and everything in it")
      .argument("<orgId>")
      .option("-y, --yes", "do not ask"),
    ["keyward orgs delete org_123 --yes"],
  ).action(
    act(async (ctx, orgId: string, o: { yes?: boolean }) => {
      if (!(await confirm(ctx, `organization ${orgId} and all its projects and keys`, o.yes))) return;
      await api(ctx, "DELETE", `/v1/orgs/${seg(orgId)}`);
      // The profile no longer works in an org that is gone.
      const config = readConfig();
      const saved = config.profiles[profileName(ctx.opts.profile, config)];
      if (saved?.orgId === orgId) {
        delete saved.orgId;
        writeConfig(config);
        ctx.io.err(`That was this profile's current org: choose another with \`keyward orgs use <orgId>\`.`);
      }
      done(ctx, "organization", orgId);
    }),
  );
  examples(orgs.command("use").description("set the org commands use when --org is not given").argument("<orgId>"), [
    "keyward orgs use org_123",
  ]).action(
    act(async (ctx, orgId: string) => {
      await api(ctx, "GET", `/v1/orgs/${seg(orgId)}`);
      setCurrentOrg(ctx, orgId);
      if (ctx.io.json) printJson(ctx.io, { orgId });
      else ctx.io.out(`Now using ${orgId}`);
    }),
  );
  return orgs;
}

function setCurrentOrg(ctx: Ctx, orgId: string) {
  const config = readConfig();
  const name = profileName(ctx.opts.profile, config);
  const profile = config.profiles[name];
  if (!profile) throw new UsageError(`No profile "${name}": run \`keyward login\` first`);
  profile.orgId = orgId;
  writeConfig(config);
}

export function projectsCommand(): Command {
  const projects = examples(new Command("projects").description("projects of the current org"), [
    "keyward projects create web",
    "keyward projects list --json",
  ]);
  const cols: Column<Rec>[] = [
    ["ID", (p) => p.id],
    ["NAME", (p) => p.name],
    ["DESCRIPTION", (p) => p.description],
    ["CREATED", (p) => p.createdAt],
  ];
  examples(listOptions(projects.command("list").alias("ls").description("list projects")), [
    "keyward projects list --org org_123",
  ]).action(
    act(async (ctx, o: Rec) =>
      printList(ctx.io, await list(ctx, `/v1/orgs/${seg(await ctx.orgId())}/projects`, o), cols),
    ),
  );
  examples(projects.command("get").description("show a project").argument("<projectId>"), [
    "keyward projects get prj_123",
  ]).action(act(async (ctx, id: string) => show(ctx, await api(ctx, "GET", `/v1/projects/${seg(id)}`))));
  examples(
    projects.command("create").description("create a project").argument("<name>").option("--description <text>"),
    ['keyward projects create web --description "public website"'],
  ).action(
    act(async (ctx, name: string, o: { description?: string }) =>
      show(
        ctx,
        await api(ctx, "POST", `/v1/orgs/${seg(await ctx.orgId())}/projects`, {
          body: compact({ name, description: o.description }),
        }),
      ),
    ),
  );
  examples(
    projects
      .command("update")
      .description("rename or describe a project")
      .argument("<projectId>")
      .option("--name <name>")
      .option("--description <text>"),
    ["keyward projects update prj_123 --name www"],
  ).action(
    act(async (ctx, id: string, o: { name?: string; description?: string }) => {
      const body = compact({ name: o.name, description: o.description });
      if (Object.keys(body).length === 0) throw new UsageError("Nothing to update: pass --name or --description");
      show(ctx, await api(ctx, "PATCH", `/v1/projects/${seg(id)}`, { body }));
    }),
  );
  examples(
    projects
      .command("delete")
      .description("delete a project and its keys")
      .argument("<projectId>")
      .option("-y, --yes", "do not ask"),
    ["keyward projects delete prj_123 --yes"],
  ).action(
    act(async (ctx, id: string, o: { yes?: boolean }) => {
      if (!(await confirm(ctx, `project ${id} and its keys`, o.yes))) return;
      await api(ctx, "DELETE", `/v1/projects/${seg(id)}`);
      done(ctx, "project", id);
    }),
  );
  return projects;
}

export function serviceAccountsCommand(): Command {
  const sas = examples(
    new Command("service-accounts").alias("sa").description("non-human identities of the current org"),
    ["keyward service-accounts create billing --role role_viewer", "keyward keys create billing-key --owner sa_123"],
  );
  const cols: Column<Rec>[] = [
    ["ID", (s) => s.id],
    ["NAME", (s) => s.name],
    ["ROLES", bindings],
    ["CREATED", (s) => s.createdAt],
  ];
  examples(listOptions(sas.command("list").alias("ls").description("list service accounts")), [
    "keyward service-accounts list",
  ]).action(
    act(async (ctx, o: Rec) =>
      printList(ctx.io, await list(ctx, `/v1/orgs/${seg(await ctx.orgId())}/service-accounts`, o), cols),
    ),
  );
  examples(sas.command("get").description("show a service account").argument("<serviceAccountId>"), [
    "keyward service-accounts get sa_123",
  ]).action(act(async (ctx, id: string) => show(ctx, await api(ctx, "GET", `/v1/service-accounts/${seg(id)}`))));
  examples(
    sas
      .command("create")
      .description("create a service account")
      .argument("<name>")
      .option("--description <text>")
      .option("--role <roleId[@projectId]>", "bind a role, org-wide or in one project (repeatable)", collect),
    ["keyward service-accounts create billing --role role_viewer --role role_member@prj_123"],
  ).action(
    act(async (ctx, name: string, o: { description?: string; role?: string[] }) =>
      show(
        ctx,
        await api(ctx, "POST", `/v1/orgs/${seg(await ctx.orgId())}/service-accounts`, {
          body: compact({ name, description: o.description, roles: parseRoleBindings(o.role) }),
        }),
      ),
    ),
  );
  examples(
    sas
      .command("update")
      .description("rename a service account or replace its roles")
      .argument("<serviceAccountId>")
      .option("--name <name>")
      .option("--description <text>")
      .option("--role <roleId[@projectId]>", "the new role bindings (repeatable; replaces all)", collect),
    ["keyward service-accounts update sa_123 --role role_admin"],
  ).action(
    act(async (ctx, id: string, o: { name?: string; description?: string; role?: string[] }) => {
      const body = compact({ name: o.name, description: o.description, roles: parseRoleBindings(o.role) });
      if (Object.keys(body).length === 0)
        throw new UsageError("Nothing to update: pass --name, --description or --role");
      show(ctx, await api(ctx, "PATCH", `/v1/service-accounts/${seg(id)}`, { body }));
    }),
  );
  examples(
    sas
      .command("delete")
      .description("delete a service account and its keys")
      .argument("<serviceAccountId>")
      .option("-y, --yes", "do not ask"),
    ["keyward service-accounts delete sa_123 --yes"],
  ).action(
    act(async (ctx, id: string, o: { yes?: boolean }) => {
      if (!(await confirm(ctx, `service account ${id} and its keys`, o.yes))) return;
      await api(ctx, "DELETE", `/v1/service-accounts/${seg(id)}`);
      done(ctx, "service account", id);
    }),
  );
  return sas;
}

export function membersCommand(): Command {
  const members = examples(new Command("members").description("members of the current org and their roles"), [
    "keyward members list",
    "keyward members invite dev@example.com --role role_member",
  ]);
  const cols: Column<Rec>[] = [
    ["USER", (m) => m.userId],
    ["EMAIL", (m) => m.email],
    ["NAME", (m) => m.name],
    ["ROLES", bindings],
    ["INVITED BY", (m) => m.invitedBy],
    ["JOINED", (m) => m.joinedAt],
  ];
  examples(listOptions(members.command("list").alias("ls").description("list members")), [
    "keyward members list --json",
  ]).action(
    act(async (ctx, o: Rec) =>
      printList(ctx.io, await list(ctx, `/v1/orgs/${seg(await ctx.orgId())}/members`, o), cols),
    ),
  );
  examples(members.command("get").description("show a member").argument("<userId>"), [
    "keyward members get usr_123",
  ]).action(
    act(async (ctx, userId: string) =>
      show(ctx, await api(ctx, "GET", `/v1/orgs/${seg(await ctx.orgId())}/members/${seg(userId)}`)),
    ),
  );
  examples(
    members
      .command("update")
      .description("replace a member's role bindings")
      .argument("<userId>")
      .requiredOption("--role <roleId[@projectId]>", "role binding (repeatable; replaces all)", collect),
    ["keyward members update usr_123 --role role_admin", "keyward members update usr_123 --role role_member@prj_123"],
  ).action(
    act(async (ctx, userId: string, o: { role: string[] }) =>
      show(
        ctx,
        await api(ctx, "PATCH", `/v1/orgs/${seg(await ctx.orgId())}/members/${seg(userId)}`, {
          body: { roles: parseRoleBindings(o.role) },
        }),
      ),
    ),
  );
  examples(
    members
      .command("remove")
      .alias("delete")
      .description("remove a member from the org (their keys there stop working)")
      .argument("<userId>")
      .option("-y, --yes", "do not ask"),
    ["keyward members remove usr_123 --yes"],
  ).action(
    act(async (ctx, userId: string, o: { yes?: boolean }) => {
      if (!(await confirm(ctx, `member ${userId} from the organization`, o.yes))) return;
      await api(ctx, "DELETE", `/v1/orgs/${seg(await ctx.orgId())}/members/${seg(userId)}`);
      done(ctx, "member", userId);
    }),
  );
  examples(
    members
      .command("invite")
      .description("invite someone by email; prints the invitation token once")
      .argument("<email>")
      .option("--role <roleId[@projectId]>", "role binding (repeatable)", collect),
    ["keyward members invite dev@example.com --role role_member"],
  ).action(
    act(async (ctx, email: string, o: { role?: string[] }) => {
      const res = await api(ctx, "POST", `/v1/orgs/${seg(await ctx.orgId())}/invitations`, {
        body: compact({ email, roles: parseRoleBindings(o.role) }),
      });
      if (ctx.io.json) return printJson(ctx.io, res);
      ctx.io.out(`Invited ${email} (${res.invitation?.id}); invitation token (shown once):\n  ${res.token}`);
    }),
  );
  examples(
    members
      .command("accept")
      .description("accept an invitation: signed in, you join its org; not signed in, it makes your account")
      .argument("<token>", "the invitation token (inv_…) you were sent")
      .option("--name <name>", "your name, for a new account")
      .option("--password-stdin", "read a new account's password from stdin"),
    [
      "keyward members accept inv_…",
      "echo \"$PASSWORD\" | keyward members accept inv_… --name 'Dev One' --password-stdin --url http://localhost:8080",
    ],
  ).action(
    act(async (ctx, token: string, o: { name?: string; passwordStdin?: boolean }) => {
      const password = o.passwordStdin ? (await readStdin()).replace(/\r?\n$/, "") : undefined;
      const res = await api(ctx, "POST", `/v1/invitations/${seg(token)}/accept`, {
        body: compact({ name: o.name, password }),
        public: true,
      });
      if (ctx.io.json) return printJson(ctx.io, res);
      ctx.io.out(
        res.created
          ? `Account created in ${res.orgId}; sign in with \`keyward login --email <your email>\``
          : `Joined ${res.orgId}`,
      );
    }),
  );
  const invitationCols: Column<Rec>[] = [
    ["ID", (i) => i.id],
    ["EMAIL", (i) => i.email],
    ["ROLES", (i) => (i.roles as Rec[]).map((r) => (r.projectId ? `${r.roleId}@${r.projectId}` : r.roleId))],
    ["EXPIRES", (i) => i.expiresAt],
  ];
  examples(listOptions(members.command("invitations").description("list pending invitations, newest first")), [
    "keyward members invitations --all",
  ]).action(
    act(async (ctx, o: Rec) =>
      printList(ctx.io, await list(ctx, `/v1/orgs/${seg(await ctx.orgId())}/invitations`, o), invitationCols),
    ),
  );
  examples(
    members
      .command("uninvite")
      .description("revoke a pending invitation (its token stops working)")
      .argument("<invitationId>")
      .option("-y, --yes", "do not ask"),
    ["keyward members uninvite inv_123 --yes"],
  ).action(
    act(async (ctx, invitationId: string, o: { yes?: boolean }) => {
      if (!(await confirm(ctx, `invitation ${invitationId}`, o.yes))) return;
      await api(ctx, "DELETE", `/v1/invitations/${seg(invitationId)}`);
      done(ctx, "invitation", invitationId);
    }),
  );
  return members;
}

export function rolesCommand(): Command {
  const roles = examples(new Command("roles").description("built-in and custom roles of the current org"), [
    "keyward roles list",
    "keyward roles create deployer --permission compute:read --permission compute:write",
  ]);
  const cols: Column<Rec>[] = [
    ["ID", (r) => r.id],
    ["NAME", (r) => r.name],
    ["BUILT-IN", (r) => r.builtin],
    ["PERMISSIONS", (r) => r.permissions],
  ];
  examples(listOptions(roles.command("list").alias("ls").description("list roles")), ["keyward roles list"]).action(
    act(async (ctx, o: Rec) => printList(ctx.io, await list(ctx, `/v1/orgs/${seg(await ctx.orgId())}/roles`, o), cols)),
  );
  examples(roles.command("get").description("show a role").argument("<roleId>"), [
    "keyward roles get role_admin",
  ]).action(act(async (ctx, id: string) => show(ctx, await api(ctx, "GET", `/v1/roles/${seg(id)}`))));
  examples(
    roles
      .command("create")
      .description("create a custom role")
      .argument("<name>")
      .option("--description <text>")
      .requiredOption("--permission <perm>", "permission or pattern (repeatable)", collect),
    ["keyward roles create deployer --permission compute:read --permission compute:write"],
  ).action(
    act(async (ctx, name: string, o: { description?: string; permission: string[] }) =>
      show(
        ctx,
        await api(ctx, "POST", `/v1/orgs/${seg(await ctx.orgId())}/roles`, {
          body: compact({ name, description: o.description, permissions: o.permission }),
        }),
      ),
    ),
  );
  examples(
    roles
      .command("update")
      .description("change a custom role")
      .argument("<roleId>")
      .option("--name <name>")
      .option("--description <text>")
      .option("--permission <perm>", "the new permission list (repeatable; replaces all)", collect),
    ["keyward roles update role_123 --permission compute:*"],
  ).action(
    act(async (ctx, id: string, o: { name?: string; description?: string; permission?: string[] }) => {
      const body = compact({ name: o.name, description: o.description, permissions: o.permission });
      if (Object.keys(body).length === 0)
        throw new UsageError("Nothing to update: pass --name, --description or --permission");
      show(ctx, await api(ctx, "PATCH", `/v1/roles/${seg(id)}`, { body }));
    }),
  );
  examples(
    roles.command("delete").description("delete a custom role").argument("<roleId>").option("-y, --yes", "do not ask"),
    ["keyward roles delete role_123 --yes"],
  ).action(
    act(async (ctx, id: string, o: { yes?: boolean }) => {
      if (!(await confirm(ctx, `role ${id}`, o.yes))) return;
      await api(ctx, "DELETE", `/v1/roles/${seg(id)}`);
      done(ctx, "role", id);
    }),
  );
  return roles;
}

export function permissionsCommand(): Command {
  return examples(new Command("permissions").description("the permission catalog"), [
    "keyward permissions --json",
  ]).action(
    act(async (ctx) => {
      const data = await api(ctx, "GET", "/v1/permissions", { public: true });
      printList(ctx.io, data, [
        ["PERMISSION", (p: Rec) => p.name],
        ["DESCRIPTION", (p: Rec) => p.description],
      ]);
    }),
  );
}

export function auditCommand(): Command {
  const audit = examples(new Command("audit").description("the org's audit log"), [
    "keyward audit list --action api_key.*",
  ]);
  examples(
    listOptions(
      audit
        .command("list")
        .alias("ls")
        .description("list audit events, newest first")
        .option("--actor <id>", "who (usr_…, sa_…, key_…)")
        .option("--action <action>", "e.g. api_key.create")
        .option("--target <id>", "what was changed")
        .option("--target-type <type>", "what kind: api_key, user, project, service_account, role, org, invitation")
        .option("--result <result>", "success, denied or failure")
        .option("--since <when>", "from (date or instant)")
        .option("--until <when>", "to (date or instant)"),
    ),
    [
      "keyward audit list --action api_key.delete --since 2026-11-01",
      "keyward audit list --target key_123 --json",
      "keyward audit list --result denied",
    ],
  ).action(
    act(async (ctx, o: Rec) => {
      const page = await list(ctx, `/v1/orgs/${seg(await ctx.orgId())}/audit-events`, o, {
        actor: o.actor,
        action: o.action,
        target: o.target,
        targetType: o.targetType,
        result: o.result,
        from: o.since,
        to: o.until,
      });
      printList(ctx.io, page, [
        ["TIME", (e: Rec) => e.createdAt],
        ["ACTOR", (e: Rec) => e.actor?.id ?? e.actorId ?? e.actor?.type],
        ["VIA KEY", (e: Rec) => e.actor?.key ?? ""],
        ["ACTION", (e: Rec) => e.action],
        ["TARGET", (e: Rec) => e.target?.id ?? e.targetId],
        ["RESULT", (e: Rec) => e.result],
        ["IP", (e: Rec) => e.ip],
      ]);
    }),
  );
  return audit;
}
