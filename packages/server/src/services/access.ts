import { AppError, forbidden, notFound } from "../domain/errors.js";
import { isReadPermission } from "../domain/permissions/catalog.js";
import { type Grant, allows } from "../domain/permissions/grants.js";
import { type OrgSettings, parseOrgSettings } from "../domain/org-settings.js";
import { compiledQuery } from "../store/compiled-query.js";
import type { Db } from "../store/db.js";
import type { Actor, Deps } from "./deps.js";

export interface OrgView {
  id: string;
  name: string;
  isOperator: boolean;
  settings: OrgSettings;
  createdAt: string;
  updatedAt: string;
  version: number;
}

/** What one actor may do in one org, computed once per request. */
export interface OrgAccess {
  org: OrgView;
  actor: Exclude<Actor, { kind: "anonymous" }>;
  /** The principal's own grants (from bindings), before any key limit. */
  grants: Grant[];
  can(permission: string, projectId?: string | null): boolean;
  /** Throws 403 unless `can`. */
  require(permission: string, projectId?: string | null): void;
}

export function requireSignedIn(actor: Actor): asserts actor is Exclude<Actor, { kind: "anonymous" }> {
  if (actor.kind === "anonymous") throw new AppError("UNAUTHENTICATED", "Sign in or present an API key");
}

/**
 * The statements every org-scoped request runs to learn what its actor may do there, compiled
 * once per database (prepared statements on PostgreSQL: planned once per connection).
 */
function compileAccessQueries(db: Db) {
  const k = () => db.kysely;
  const q = db.kysely;
  return {
    org: compiledQuery(k, (orgId) =>
      q
        .selectFrom("orgs")
        .select(["id", "name", "is_operator", "settings", "created_at", "updated_at", "version"])
        .where("id", "=", orgId),
    ),
    member: compiledQuery(k, (orgId, userId) =>
      q.selectFrom("org_members").select("user_id").where("org_id", "=", orgId).where("user_id", "=", userId),
    ),
    serviceAccountOrg: compiledQuery(k, (id) => q.selectFrom("service_accounts").select("org_id").where("id", "=", id)),
    projectOrg: compiledQuery(k, (id) => q.selectFrom("projects").select("org_id").where("id", "=", id)),
    bindings: compiledQuery(k, (orgId, principalId) =>
      q
        .selectFrom("bindings")
        .select(["role_id", "project_id"])
        .where("org_id", "=", orgId)
        .where("principal_id", "=", principalId),
    ),
    roles: compiledQuery(k, (orgId) => q.selectFrom("roles").select(["id", "permissions"]).where("org_id", "=", orgId)),
  };
}

const compiled = new WeakMap<Db, ReturnType<typeof compileAccessQueries>>();
function accessQueries(db: Db) {
  let queries = compiled.get(db);
  if (!queries) {
    queries = compileAccessQueries(db);
    compiled.set(db, queries);
  }
  return queries;
}

/** The org a project belongs to; null when there is no such project. */
export async function projectOrgId(deps: Deps, projectId: string): Promise<string | null> {
  const [row] = await accessQueries(deps.db).projectOrg(projectId);
  return row?.org_id ?? null;
}

/** Role id -> permission patterns, for the built-ins and this org's custom roles. */
export async function rolePermissions(deps: Deps, orgId: string): Promise<Map<string, string[]>> {
  return roleMap(deps, await accessQueries(deps.db).roles(orgId));
}

/** {@link rolePermissions} from custom role rows already read (`id` null: none, as a left join gives). */
export function roleMap(deps: Deps, custom: { id: string | null; permissions: string | null }[]) {
  const map = new Map(deps.builtinRoles.map((r) => [r.id, r.permissions]));
  for (const r of custom) if (r.id !== null) map.set(r.id, JSON.parse(r.permissions ?? "[]") as string[]);
  return map;
}

/** Grants a principal holds in an org through its bindings. */
export async function principalGrants(deps: Deps, orgId: string, principalId: string): Promise<Grant[]> {
  const [bindings, roles] = await Promise.all([
    accessQueries(deps.db).bindings(orgId, principalId),
    rolePermissions(deps, orgId),
  ]);
  const grants: Grant[] = [];
  for (const b of bindings)
    for (const pattern of roles.get(b.role_id) ?? []) grants.push({ pattern, projectId: b.project_id });
  return grants;
}

export function toOrgView(row: {
  id: string;
  name: string;
  is_operator: number;
  settings: string;
  created_at: string;
  updated_at: string;
  version: number;
}): OrgView {
  return {
    id: row.id,
    name: row.name,
    isOperator: row.is_operator === 1,
    settings: parseOrgSettings(row.settings),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
  };
}

/**
 * Loads the actor's access to an org. An org the actor does not belong to answers 404,
 * exactly like one that does not exist, so ids do not leak.
 */
export async function loadAccess(deps: Deps, actor: Actor, orgId: string): Promise<OrgAccess> {
  requireSignedIn(actor);
  if (actor.limit && actor.limit.orgId !== orgId) throw notFound("Organization");
  const queries = accessQueries(deps.db);
  const [row] = await queries.org(orgId);
  if (!row) throw notFound("Organization");
  const org = toOrgView(row);

  let grants: Grant[] = [];
  if (actor.kind === "user") {
    const [member] = await queries.member(orgId, actor.id);
    if (!member) throw notFound("Organization");
    grants = await principalGrants(deps, orgId, actor.id);
  } else if (actor.kind === "service_account") {
    const [sa] = await queries.serviceAccountOrg(actor.id);
    if (sa?.org_id !== orgId) throw notFound("Organization");
    grants = await principalGrants(deps, orgId, actor.id);
  } else {
    const [project] = await queries.projectOrg(actor.id);
    if (project?.org_id !== orgId) throw notFound("Organization");
    // A project key acts only inside its project; what it may do there is the key's own list.
    grants = [{ pattern: "*", projectId: actor.id }];
  }

  const platform = new Set(deps.catalog.filter((p) => p.platform).map((p) => p.name));
  const limit = actor.limit;
  const can = (permission: string, projectId: string | null = null): boolean => {
    if (platform.has(permission) && !org.isOperator) return false;
    if (limit) {
      if (limit.permissions && !limit.permissions.has(permission)) return false;
      if (limit.readOnly && !isReadPermission(permission)) return false;
      // A credential kept to projects does nothing outside them, org-wide actions included
      // (as verify decides: PROJECT_NOT_ALLOWED without a project).
      if (limit.projects && (projectId === null || !limit.projects.includes(projectId))) return false;
    }
    return allows(grants, permission, projectId);
  };
  return {
    org,
    actor,
    grants,
    can,
    require(permission, projectId = null) {
      if (!can(permission, projectId)) throw forbidden(permission);
    },
  };
}
