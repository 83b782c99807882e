import { AppError } from "../domain/errors.js";
import { newId } from "../domain/ids.js";
import { checkKeyPolicy, excess, tooManyKeys } from "../domain/keys/policy.js";
import { keyPermissionSet, limitsOf } from "../domain/keys/record.js";
import { generateSecret, hashSecret } from "../domain/keys/secret.js";
import { type Kysely, sql } from "kysely";
import type { ApiKeysTable, Database } from "../store/schema.js";
import { type OrgAccess, rolePermissions } from "./access.js";
import { writeAudit } from "./audit.js";
import type { RequestCtx } from "./deps.js";
import {
  FieldErrors,
  checkPatterns,
  checkProjectList,
  checkRoles,
  existingProjects,
  holdNamedRows,
  normaliseExpiry,
  normaliseIps,
  unique,
} from "./key-input.js";
import { callerPrincipal, ownerRights, refuseLooserThanCaller } from "./key-rights.js";
import type { CreateKeyInput, CreatedKey, KeyService } from "./key-service.js";
import { auditFields, toKeyView } from "./key-view.js";

/**
 * POST /v1/orgs/{orgId}/api-keys: validates, checks owner rights, the org key policy and
 * escalation, then inserts the key and its audit event in one transaction.
 */
export async function createKey(
  svc: KeyService,
  ctx: RequestCtx,
  access: OrgAccess,
  input: CreateKeyInput,
): Promise<CreatedKey> {
  const { deps } = svc;
  const orgId = access.org.id;
  const now = deps.now();
  const me = callerPrincipal(access);
  const owner = input.owner ?? me;
  const errs = new FieldErrors();

  // Owner: exists in this org.
  if (owner.type === "service_account") {
    const sa = await deps.db.kysely
      .selectFrom("service_accounts")
      .select("id")
      .where("id", "=", owner.id)
      .where("org_id", "=", orgId)
      .executeTakeFirst();
    if (!sa) errs.add("owner/id", `service account ${owner.id} does not exist in this organization`, "not_found");
  } else if (owner.type === "project") {
    if ((await existingProjects(deps, orgId, [owner.id])).size === 0) {
      errs.add("owner/id", `project ${owner.id} does not exist in this organization`, "not_found");
    }
  }
  const roles = await rolePermissions(deps, orgId);
  const permissions = input.permissions ? unique(input.permissions) : [];
  const roleIds = input.roles ? unique(input.roles) : [];
  // Checked as sent, so an error names the entry's own index (duplicates are dropped after).
  checkPatterns(deps, access, input.permissions ?? [], errs);
  checkRoles(input.roles ?? [], roles, errs);
  let allowedProjects = input.allowedProjects ? unique(input.allowedProjects) : null;
  const known = await existingProjects(deps, orgId, [
    ...(allowedProjects ?? []),
    ...(input.defaultProjectId ? [input.defaultProjectId] : []),
  ]);
  if (input.allowedProjects) checkProjectList(input.allowedProjects, known, errs, "allowedProjects");
  if (owner.type === "project") {
    if (allowedProjects && (allowedProjects.length !== 1 || allowedProjects[0] !== owner.id)) {
      errs.add("allowedProjects", "a project key acts only in its own project");
    }
    allowedProjects = null;
  }
  const defaultProjectId = input.defaultProjectId ?? null;
  if (defaultProjectId) {
    if (!known.has(defaultProjectId))
      errs.add("defaultProjectId", `project ${defaultProjectId} does not exist in this organization`, "not_found");
    else if (owner.type === "project" && defaultProjectId !== owner.id)
      errs.add("defaultProjectId", "a project key's default project is its own project");
    else if (allowedProjects && !allowedProjects.includes(defaultProjectId))
      errs.add("defaultProjectId", "must be one of allowedProjects");
  }
  if (allowedProjects && allowedProjects.length === 0)
    errs.add("allowedProjects", "must name at least one project, or be omitted");
  const allowedIps = normaliseIps(input.allowedIps, errs) ?? [];
  const expiresAt = normaliseExpiry(input.expiresAt, now, errs) ?? null;
  errs.throwIfAny();

  // Who may act for the owner: itself, or rights over the service account or project.
  if (!ownerRights(access, owner)) {
    throw new AppError(
      "FORBIDDEN",
      owner.type === "user"
        ? "You can create user keys only for yourself"
        : `You have no rights over ${owner.type.replace("_", " ")} ${owner.id}`,
      { errors: [{ path: "owner", code: "forbidden", message: "not your principal" }] },
    );
  }
  const scope = owner.type === "project" ? [owner.id] : allowedProjects;
  if (!svc.grantable(access, scope).has("iam:apikeys:create")) {
    throw new AppError("FORBIDDEN", "Missing permission iam:apikeys:create where the key would act");
  }

  // Org key policy (DESIGN §4).
  const maxKeys = owner.type === "user" ? access.org.settings.maxKeysPerUser : null;
  const violations = checkKeyPolicy({
    settings: access.org.settings,
    grants: access.grants,
    scope,
    expiresAt,
    from: now,
    creating: true,
  });
  if (violations.length > 0) {
    throw new AppError("POLICY_VIOLATION", violations.map((v) => v.message).join("; "), { errors: violations });
  }

  // No escalation (DESIGN §3.2): what the key carries must be a subset of what the caller may grant there.
  const grantable = svc.grantable(access, scope);
  const explicit = permissions.length > 0 || roleIds.length > 0;
  let storedPermissions: string[] | null = explicit ? permissions : null;
  let storedRoles: string[] | null = explicit ? roleIds : null;
  if (explicit) {
    const requested =
      keyPermissionSet(permissions, roleIds, roles, deps.catalog, access.org.isOperator) ?? new Set<string>();
    const over = excess(requested, grantable);
    if (over.length > 0) {
      throw new AppError(
        "FORBIDDEN",
        `You cannot grant permissions you do not hold where the key acts: ${over.slice(0, 10).join(", ")}`,
        {
          errors: [{ path: "permissions", code: "escalation", message: `not yours to grant: ${over.join(", ")}` }],
        },
      );
    }
  } else if (!(owner.type === me.type && owner.id === me.id && !access.actor.limit)) {
    // Only a principal's own unrestricted key may follow its owner's grants; any other key
    // gets the concrete set its creator may grant, fixed now.
    storedPermissions = [...grantable].sort();
    storedRoles = [];
  }

  const { secret, start } = generateSecret(deps.config.keyPrefix);
  const t = now.toISOString();
  const row: ApiKeysTable = {
    id: newId("key"),
    org_id: orgId,
    name: input.name,
    description: input.description ?? "",
    owner_type: owner.type,
    owner_id: owner.id,
    default_project_id: defaultProjectId,
    permissions: storedPermissions === null ? null : JSON.stringify(storedPermissions),
    roles: storedRoles === null ? null : JSON.stringify(storedRoles),
    read_only: input.readOnly ? 1 : 0,
    allowed_projects: allowedProjects ? JSON.stringify(allowedProjects) : null,
    allowed_ips: allowedIps.length > 0 ? JSON.stringify(allowedIps) : null,
    expires_at: expiresAt,
    ratelimit_limit: input.ratelimit?.limit ?? null,
    ratelimit_window: input.ratelimit?.windowSeconds ?? null,
    status: "active",
    start,
    secret_hash: hashSecret(secret, deps.pepper),
    previous_hash: null,
    previous_expires_at: null,
    created_at: t,
    created_by: me.id,
    updated_at: t,
    last_used_at: null,
    last_used_ip: null,
    version: 1,
  };
  await refuseLooserThanCaller(deps, access, limitsOf(row), "Sign in to create a key with a looser");
  const apiKey = toKeyView(row, now);
  await deps.db.kysely.transaction().execute(async (trx) => {
    await holdNamedRows(trx, deps.db.dialect, orgId, {
      serviceAccount: owner.type === "service_account" ? owner.id : undefined,
      projects: [
        ...(owner.type === "project" ? [owner.id] : []),
        ...(allowedProjects ?? []),
        ...(defaultProjectId ? [defaultProjectId] : []),
      ],
    });
    if (maxKeys !== null) {
      // Counted here, one create at a time, so creates sent at once cannot all see room
      // (SQLite's write transactions take turns already; on PostgreSQL a lock per owner).
      if (deps.db.dialect === "postgres")
        await sql`select pg_advisory_xact_lock(hashtext(${`api_keys:${orgId}:${owner.id}`}))`.execute(trx);
      if ((await keysOf(trx, orgId, owner.id)) >= maxKeys) {
        const violation = tooManyKeys(maxKeys);
        throw new AppError("POLICY_VIOLATION", violation.message, { errors: [violation] });
      }
    }
    await trx.insertInto("api_keys").values(row).execute();
    await writeAudit(trx, ctx, now, {
      orgId,
      action: "api_key.create",
      target: { type: "api_key", id: row.id },
      details: { after: auditFields(apiKey) },
    });
    await deps.keyEvents.announce(trx, { kind: "key", keyId: row.id });
  });
  deps.keyEvents.emit({ kind: "key", keyId: row.id });
  return { apiKey, secret };
}

/** How many keys `ownerId` has in the org. */
async function keysOf(db: Kysely<Database>, orgId: string, ownerId: string): Promise<number> {
  const { n } = await db
    .selectFrom("api_keys")
    .select((eb) => eb.fn.countAll().as("n"))
    .where("org_id", "=", orgId)
    .where("owner_id", "=", ownerId)
    .executeTakeFirstOrThrow();
  return Number(n);
}
