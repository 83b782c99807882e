import type { ResolvedKey } from "../domain/keys/decide.js";
import { effectivePermissions } from "../domain/keys/effective.js";
import { parseRules } from "../domain/ip-rules.js";
import { keyPermissionSet, parseList, ratelimitOf } from "../domain/keys/record.js";
import { parseOrgSettings } from "../domain/org-settings.js";
import type { Grant } from "../domain/permissions/grants.js";
import type { ApiKeysTable, BindingsTable, OrgsTable, RolesTable } from "../store/schema.js";
import { roleMap } from "./access.js";
import type { Deps } from "./deps.js";

export type { ResolvedKey } from "../domain/keys/decide.js";

/**
 * What a key resolves against, read with its row in one statement (verify/key-loader.ts): its
 * org, the org's custom roles, and its owner's standing and bindings there.
 */
export interface KeyContext {
  org: Pick<OrgsTable, "id" | "is_operator" | "settings"> | null;
  roles: Pick<RolesTable, "id" | "permissions">[];
  /**
   * Whether the owner still stands in the key's org: a user while a member, a service account
   * of that org, a project of that org.
   */
  standing: boolean;
  /** The owner's role bindings in the key's org (none for a project). */
  bindings: Pick<BindingsTable, "role_id" | "project_id">[];
}

/**
 * Turns a stored key row and its context into a `ResolvedKey`: the key, its org's policy and
 * its owner's current grants. No I/O and no caching here: the verification path's loader
 * (verify/key-loader.ts) reads the row with its context and caches the result, invalidated
 * through deps.keyEvents.
 */
export class KeyResolver {
  constructor(private deps: Deps) {}

  /** Resolves a stored key; null when its org is gone (an owner gone leaves it inactive). */
  resolve(row: ApiKeysTable, ctx: KeyContext, matched: ResolvedKey["matched"] = "current"): ResolvedKey | null {
    const { org } = ctx;
    if (!org) return null;
    const owner = !ctx.standing ? null : row.owner_type === "project" ? "project" : ctx.bindings;
    const isOperator = org.is_operator === 1;
    const settings = parseOrgSettings(org.settings);
    const roles = roleMap(this.deps, ctx.roles);
    const active = owner !== null;
    // A project key acts only inside its project; its own list says what it may do there.
    const grants: Grant[] =
      owner === "project"
        ? [{ pattern: "*", projectId: row.owner_id }]
        : (owner ?? []).flatMap((b) =>
            (roles.get(b.role_id) ?? []).map((pattern) => ({ pattern, projectId: b.project_id })),
          );
    const keyPermissions = keyPermissionSet(
      parseList(row.permissions),
      parseList(row.roles),
      roles,
      this.deps.catalog,
      isOperator,
    );
    const readOnly = row.read_only === 1;
    const eff = effectivePermissions({
      keyPermissions,
      ownerGrants: grants,
      catalog: this.deps.catalog,
      includePlatform: isOperator,
      readOnly,
    });
    return {
      id: row.id,
      orgId: row.org_id,
      name: row.name,
      owner: { type: row.owner_type, id: row.owner_id },
      status: row.status,
      expiresAt: row.expires_at,
      readOnly,
      defaultProjectId: row.default_project_id,
      allowedProjects: parseList(row.allowed_projects),
      allowedIps: parseRules(parseList(row.allowed_ips)),
      orgAllowedIps: parseRules(settings.allowedIps),
      ratelimit: ratelimitOf(row),
      keyPermissions,
      permissions: eff.org,
      projectPermissions: eff.projects,
      ownerActive: active,
      org: { id: org.id, isOperator, settings },
      matched,
      graceEndsAt: matched === "previous" ? row.previous_expires_at : null,
      version: row.version,
      createdAt: row.created_at,
    };
  }
}
