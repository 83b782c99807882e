import type { Kysely } from "kysely";
import { AppError, invalidField } from "../domain/errors.js";
import { newId } from "../domain/ids.js";
import { expand } from "../domain/permissions/match.js";
import { expandGrants } from "../domain/permissions/grants.js";
import { BUILTIN_ROLE_IDS } from "../domain/permissions/roles.js";
import type { Db } from "../store/db.js";
import type { Database } from "../store/schema.js";
import type { OrgAccess } from "./access.js";
import { principalGrants, rolePermissions } from "./access.js";
import type { Deps } from "./deps.js";

/** A role bound to a principal, org-wide (`projectId` null) or on one project. */
export interface RoleBinding {
  roleId: string;
  projectId?: string | null;
}

/**
 * Bindings as stored: each once (the first of duplicates, in the order given), `projectId`
 * null when org-wide. What is written, audited and compared is this, not the request's list.
 */
export function normaliseBindings(bindings: readonly RoleBinding[]): { roleId: string; projectId: string | null }[] {
  const unique = new Map<string, { roleId: string; projectId: string | null }>();
  for (const b of bindings) {
    const projectId = b.projectId ?? null;
    unique.set(`${b.roleId}|${projectId ?? ""}`, { roleId: b.roleId, projectId });
  }
  return [...unique.values()];
}

/** The permissions a role bound at `b` hands out that the caller does not hold there. */
function beyondCaller(
  deps: Deps,
  access: OrgAccess,
  mine: ReturnType<typeof expandGrants>,
  perms: readonly string[],
  b: RoleBinding,
): string[] {
  const held = b.projectId ? (mine.projects.get(b.projectId) ?? mine.org) : mine.org;
  const wanted = expand(perms, deps.catalog, access.org.isOperator);
  // What the caller holds is its principal's grants within its credential's limits (a key's list).
  return [...wanted].filter((p) => !held.has(p) || !access.can(p, b.projectId ?? null));
}

/**
 * Checks bindings before they are written: roles and projects exist in the org, and the
 * caller holds every permission it hands out (no escalation through roles). With `replacing`
 * (the principal's bindings now), also that it could take away each one that goes: whoever may
 * not make someone owner may not unmake an owner either (an admin neither demotes nor removes
 * one). Only `iam:*` counts there: an admin, who holds no product permission of its own, still
 * removes members and takes their roles.
 */
export async function checkBindings(
  deps: Deps,
  access: OrgAccess,
  bindings: readonly RoleBinding[],
  opts: { replacing?: readonly RoleBinding[]; field?: string } = {},
): Promise<void> {
  const field = opts.field ?? "roles";
  const roles = await rolePermissions(deps, access.org.id);
  const mine = expandGrants(access.grants, deps.catalog, access.org.isOperator);
  for (const b of opts.replacing ? removedBindings(opts.replacing, bindings) : []) {
    const missing = beyondCaller(deps, access, mine, roles.get(b.roleId) ?? [], b).filter((p) => p.startsWith("iam:"));
    if (missing.length > 0) {
      const where = b.projectId ? ` in project ${b.projectId}` : "";
      throw new AppError(
        "FORBIDDEN",
        `You cannot take away role ${b.roleId}${where}: it grants permissions you do not hold (${missing.slice(0, 5).join(", ")})`,
        {
          errors: [
            { path: field, code: "escalation", message: `takes away ${b.roleId}, which grants more than you hold` },
          ],
        },
      );
    }
  }
  for (let i = 0; i < bindings.length; i++) {
    const b = bindings[i];
    const perms = roles.get(b.roleId);
    if (!perms) throw invalidField(`${field}/${i}/roleId`, `role ${b.roleId} does not exist in this organization`);
    if (b.projectId) {
      const p = await deps.db.kysely
        .selectFrom("projects")
        .select("id")
        .where("id", "=", b.projectId)
        .where("org_id", "=", access.org.id)
        .executeTakeFirst();
      if (!p)
        throw invalidField(`${field}/${i}/projectId`, `project ${b.projectId} does not exist in this organization`);
    }
    const missing = beyondCaller(deps, access, mine, perms, b);
    if (missing.length > 0) {
      throw new AppError(
        "FORBIDDEN",
        `You cannot grant permissions you do not hold: ${missing.slice(0, 5).join(", ")}`,
        {
          errors: [{ path: `${field}/${i}/roleId`, code: "escalation", message: "role grants more than you hold" }],
        },
      );
    }
  }
}

/** The bindings of `before` that `after` no longer has. */
function removedBindings(before: readonly RoleBinding[], after: readonly RoleBinding[]): RoleBinding[] {
  const kept = new Set(normaliseBindings(after).map((b) => `${b.roleId}|${b.projectId ?? ""}`));
  return normaliseBindings(before).filter((b) => !kept.has(`${b.roleId}|${b.projectId ?? ""}`));
}

/**
 * Of `bindings`, those whose roles hand out nothing `granter` does not hold now where each is
 * bound: an invitation grants, when accepted, what its inviter may still grant, not what they
 * could when they sent it (one removed or demoted since grants no more than they hold).
 */
export async function stillGrantable(
  deps: Deps,
  org: { id: string; isOperator: boolean },
  granter: string,
  bindings: readonly RoleBinding[],
): Promise<RoleBinding[]> {
  const [grants, roles] = await Promise.all([principalGrants(deps, org.id, granter), rolePermissions(deps, org.id)]);
  const held = expandGrants(grants, deps.catalog, org.isOperator);
  return bindings.filter((b) => {
    const perms = roles.get(b.roleId);
    if (!perms) return false;
    const has = b.projectId ? (held.projects.get(b.projectId) ?? held.org) : held.org;
    return [...expand(perms, deps.catalog, org.isOperator)].every((p) => has.has(p));
  });
}

/** Replaces a principal's bindings in an org. Call inside the transaction of the change. */
export async function replaceBindings(
  trx: Kysely<Database>,
  dialect: Db["dialect"],
  orgId: string,
  principal: { type: "user" | "service_account"; id: string },
  bindings: readonly RoleBinding[],
  now: Date,
): Promise<void> {
  await trx.deleteFrom("bindings").where("org_id", "=", orgId).where("principal_id", "=", principal.id).execute();
  const stored = normaliseBindings(bindings);
  if (stored.length === 0) return;
  // The custom roles bound, held until the commit (a role's delete waits, then sees these
  // bindings), and still there (one deleted since the check is refused, not bound).
  const custom = [...new Set(stored.map((b) => b.roleId).filter((r) => !BUILTIN_ROLE_IDS.has(r)))];
  if (custom.length > 0) {
    let q = trx.selectFrom("roles").select("id").where("org_id", "=", orgId).where("id", "in", custom);
    if (dialect === "postgres") q = q.forShare();
    const found = new Set((await q.execute()).map((r) => r.id));
    const gone = custom.find((r) => !found.has(r));
    if (gone) throw invalidField("roles", `role ${gone} does not exist in this organization`, "not_found");
  }
  await trx
    .insertInto("bindings")
    .values(
      stored.map((b) => ({
        id: newId("rb"),
        org_id: orgId,
        principal_type: principal.type,
        principal_id: principal.id,
        role_id: b.roleId,
        project_id: b.projectId,
        created_at: now.toISOString(),
      })),
    )
    .execute();
}

/** Bindings per principal, for list responses. */
export async function bindingsOf(
  deps: Deps,
  orgId: string,
  principalIds: string[],
): Promise<Map<string, RoleBinding[]>> {
  const out = new Map<string, RoleBinding[]>(principalIds.map((id) => [id, []]));
  if (principalIds.length === 0) return out;
  const rows = await deps.db.kysely
    .selectFrom("bindings")
    .select(["principal_id", "role_id", "project_id"])
    .where("org_id", "=", orgId)
    .where("principal_id", "in", principalIds)
    .orderBy("created_at")
    .execute();
  for (const r of rows) out.get(r.principal_id)?.push({ roleId: r.role_id, projectId: r.project_id });
  return out;
}
