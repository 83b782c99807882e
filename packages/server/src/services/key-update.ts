import { AppError } from "../domain/errors.js";
import { keyPermissionSet, limitsOf, parseList } from "../domain/keys/record.js";
import { checkKeyPolicy, excess, refuseLoosened } from "../domain/keys/policy.js";
import type { ApiKeysTable } from "../store/schema.js";
import { type OrgAccess, rolePermissions } from "./access.js";
import { diff, writeAudit } from "./audit.js";
import type { RequestCtx } from "./deps.js";
import {
  FieldErrors,
  type KeySettingsInput,
  checkPatterns,
  checkProjectList,
  checkRoles,
  existingProjects,
  holdNamedRows,
  normaliseExpiry,
  normaliseIps,
  unique,
} from "./key-input.js";
import { type KeyService, checkVersion, staleVersion } from "./key-service.js";
import { type ApiKeyView, auditFields, toKeyView } from "./key-view.js";

const sameSet = (a: readonly string[] | null, b: readonly string[] | null) =>
  JSON.stringify(a ? [...a].sort() : null) === JSON.stringify(b ? [...b].sort() : null);

/**
 * PATCH /v1/api-keys/{id}: name, description, default project, restrictions, expiry, and
 * permissions — which may only narrow (widening needs a new key, DESIGN §3.2).
 */
export async function updateKey(
  svc: KeyService,
  ctx: RequestCtx,
  access: OrgAccess,
  keyId: string,
  patch: KeySettingsInput & { name?: string },
  ifMatch?: number,
): Promise<ApiKeyView> {
  const { deps } = svc;
  const { row, rights } = await svc.loadVisible(access, keyId);
  if (!rights.edit) throw new AppError("FORBIDDEN", "You may view this key but not change it");
  checkVersion(row, ifMatch);
  const now = deps.now();
  const orgId = access.org.id;
  const errs = new FieldErrors();
  const roles = await rolePermissions(deps, orgId);
  const isProjectKey = row.owner_type === "project";

  const oldPerms = parseList(row.permissions);
  const oldRoles = parseList(row.roles);
  const permsChanged = patch.permissions !== undefined || patch.roles !== undefined;
  let newPerms = oldPerms;
  let newRoles = oldRoles;
  if (permsChanged) {
    newPerms = patch.permissions ? unique(patch.permissions) : (oldPerms ?? []);
    newRoles = patch.roles ? unique(patch.roles) : (oldRoles ?? []);
    // Checked as sent, so an error names the entry's own index (duplicates are dropped after).
    checkPatterns(deps, access, patch.permissions ?? newPerms, errs);
    checkRoles(patch.roles ?? newRoles, roles, errs);
    if (newPerms.length === 0 && newRoles.length === 0) {
      errs.add(
        "permissions",
        "an empty list would give the key all of its owner's permissions; PATCH can only narrow",
        "widen",
      );
    }
  }
  let allowedProjects =
    patch.allowedProjects === undefined
      ? parseList(row.allowed_projects)
      : patch.allowedProjects
        ? unique(patch.allowedProjects)
        : null;
  const defaultProjectId = patch.defaultProjectId === undefined ? row.default_project_id : patch.defaultProjectId;
  const known = await existingProjects(deps, orgId, [
    ...(allowedProjects ?? []),
    ...(defaultProjectId ? [defaultProjectId] : []),
  ]);
  if (patch.allowedProjects) {
    checkProjectList(patch.allowedProjects, known, errs, "allowedProjects");
    if (allowedProjects?.length === 0) errs.add("allowedProjects", "must name at least one project, or be null");
    if (isProjectKey) errs.add("allowedProjects", "a project key acts only in its own project");
  }
  if (isProjectKey) allowedProjects = null;
  if (patch.defaultProjectId !== undefined && defaultProjectId) {
    if (!known.has(defaultProjectId))
      errs.add("defaultProjectId", `project ${defaultProjectId} does not exist in this organization`, "not_found");
    else if (isProjectKey && defaultProjectId !== row.owner_id)
      errs.add("defaultProjectId", "a project key's default project is its own project");
  }
  if (defaultProjectId && allowedProjects && !allowedProjects.includes(defaultProjectId)) {
    errs.add("defaultProjectId", "must be one of allowedProjects");
  }
  const readOnly = patch.readOnly ?? row.read_only === 1;
  if (row.read_only === 1 && !readOnly)
    errs.add("readOnly", "PATCH cannot lift read-only: that widens the key; create a new key", "widen");
  const allowedIps = normaliseIps(patch.allowedIps, errs);
  const expiresAt = patch.expiresAt === undefined ? row.expires_at : normaliseExpiry(patch.expiresAt, now, errs);
  errs.throwIfAny();

  // Narrow only: the new set must lie inside what the key carries now.
  const isOperator = access.org.isOperator;
  const newSet = keyPermissionSet(newPerms, newRoles, roles, deps.catalog, isOperator);
  const scopeChanged = !sameSet(allowedProjects, parseList(row.allowed_projects));
  if (permsChanged && newSet) {
    const oldSet =
      keyPermissionSet(oldPerms, oldRoles, roles, deps.catalog, isOperator) ?? svc.grantable(access, allowedProjects);
    const over = excess(newSet, oldSet);
    if (over.length > 0) {
      throw new AppError(
        "INVALID_REQUEST",
        `PATCH can only narrow a key's permissions; create a new key to add ${over.slice(0, 10).join(", ")}`,
        {
          errors: [{ path: "permissions", code: "widen", message: `would add ${over.join(", ")}` }],
        },
      );
    }
  }
  // A key that carries all of its owner's permissions carries them wherever it is allowed to
  // act: changing where is its owner's own act, signed in (as regenerating it is). A key or
  // token could otherwise lift its own project limit, or a sibling's, and act org-wide.
  if (scopeChanged && !newSet && access.actor.limit) {
    throw new AppError(
      "FORBIDDEN",
      "Only its owner, signed in, may change the projects of a key that carries all of the owner's permissions",
      { errors: [{ path: "allowedProjects", code: "escalation", message: "sign in to change this key's projects" }] },
    );
  }
  // Moving a fixed-permission key to other projects must not carry permissions the caller lacks there.
  if (scopeChanged && newSet) {
    const over = excess(newSet, svc.grantable(access, allowedProjects));
    if (over.length > 0) {
      throw new AppError("FORBIDDEN", `You cannot grant ${over.slice(0, 10).join(", ")} in those projects`, {
        errors: [
          { path: "allowedProjects", code: "escalation", message: `not yours to grant there: ${over.join(", ")}` },
        ],
      });
    }
  }
  // An expiry brought forward (or a first one set) is always allowed: it tightens the key, and a
  // key older than the org's bound could otherwise be given no expiry at all.
  const tightens =
    expiresAt != null && (row.expires_at === null || Date.parse(expiresAt) <= Date.parse(row.expires_at));
  if (patch.expiresAt !== undefined && !tightens) {
    const violations = checkKeyPolicy({
      settings: access.org.settings,
      grants: access.grants,
      scope: allowedProjects,
      expiresAt: expiresAt ?? null,
      from: new Date(row.created_at),
      creating: false,
    });
    if (violations.length > 0)
      throw new AppError("POLICY_VIOLATION", violations.map((v) => v.message).join("; "), { errors: violations });
  }

  const next: ApiKeysTable = {
    ...row,
    name: patch.name ?? row.name,
    description: patch.description ?? row.description,
    default_project_id: defaultProjectId,
    permissions: newPerms === null ? null : JSON.stringify(newPerms),
    roles: newRoles === null ? null : JSON.stringify(newRoles),
    read_only: readOnly ? 1 : 0,
    allowed_projects: allowedProjects ? JSON.stringify(allowedProjects) : null,
    allowed_ips: allowedIps === undefined ? row.allowed_ips : allowedIps.length > 0 ? JSON.stringify(allowedIps) : null,
    expires_at: expiresAt ?? null,
    ratelimit_limit: patch.ratelimit === undefined ? row.ratelimit_limit : (patch.ratelimit?.limit ?? null),
    ratelimit_window: patch.ratelimit === undefined ? row.ratelimit_window : (patch.ratelimit?.windowSeconds ?? null),
    updated_at: now.toISOString(),
    version: row.version + 1,
  };
  // A key or token may tighten a key's restrictions, never loosen them: a leaked key must not
  // lift its own IP allow list or expiry (or a sibling's). Loosening is a signed-in act.
  if (access.actor.limit) refuseLoosened(limitsOf(row), limitsOf(next), "Sign in to loosen a key's");
  const before = auditFields(toKeyView(row, now));
  const after = toKeyView(next, now);
  const changes = diff(before, auditFields(after));
  if (Object.keys(changes.after).length === 0) return toKeyView(row, now);
  await deps.db.kysely.transaction().execute(async (trx) => {
    // Projects this edit names (not those the key named already: a project deleted since
    // leaves them as the project's delete decided).
    await holdNamedRows(trx, deps.db.dialect, orgId, {
      projects: [
        ...(patch.allowedProjects ? (allowedProjects ?? []) : []),
        ...(patch.defaultProjectId ? [patch.defaultProjectId] : []),
      ],
    });
    // The last use is the usage flush's to write (without a new version): an edit that wrote
    // back what it read would undo a flush that committed meanwhile.
    const { id: _id, last_used_at: _at, last_used_ip: _ip, ...values } = next;
    const res = await trx
      .updateTable("api_keys")
      .set(values)
      .where("id", "=", keyId)
      .where("version", "=", row.version)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw staleVersion();
    await writeAudit(trx, ctx, now, {
      orgId,
      action: "api_key.update",
      target: { type: "api_key", id: keyId },
      details: changes,
    });
    await deps.keyEvents.announce(trx, { kind: "key", keyId });
  });
  deps.keyEvents.emit({ kind: "key", keyId });
  return after;
}
