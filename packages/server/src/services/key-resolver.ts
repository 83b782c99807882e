import type { ResolvedKey } from "../domain/keys/decide.js";
import { effectivePermissions } from "../domain/keys/effective.js";
import { keyPermissionSet, parseList, parseRules } from "../domain/keys/record.js";
import { parseOrgSettings } from "../domain/org-settings.js";
import type { Grant } from "../domain/permissions/grants.js";
import type { ApiKeysTable } from "../store/schema.js";
import { roleMap } from "./access.js";
import type { Deps } from "./deps.js";

export type { ResolvedKey } from "../domain/keys/decide.js";

/**
 * Turns a stored key row into a `ResolvedKey`: the key, its org's policy and its owner's
 * current grants. No caching here: the verification path's loader (verify/key-loader.ts) finds
 * the row by secret hash or id and caches the result, invalidated through deps.keyEvents.
 */
export class KeyResolver {
  constructor(private deps: Deps) {}

  /** Resolves a stored key row; null when its org is gone (an owner gone leaves it inactive). */
  async resolveRow(row: ApiKeysTable, matched: ResolvedKey["matched"] = "current"): Promise<ResolvedKey | null> {
    // Two reads, sent together (a key loaded on a verify cache miss waits for them): the org
    // with its custom roles, and the owner's standing with its bindings.
    const [orgRows, owner] = await Promise.all([
      this.deps.db.kysely
        .selectFrom("orgs")
        .leftJoin("roles", "roles.org_id", "orgs.id")
        .select(["orgs.id", "orgs.is_operator", "orgs.settings", "roles.id as role_id", "roles.permissions"])
        .where("orgs.id", "=", row.org_id)
        .execute(),
      this.ownerBindings(row),
    ]);
    const org = orgRows[0];
    if (!org) return null;
    const isOperator = org.is_operator === 1;
    const settings = parseOrgSettings(org.settings);
    const roles = roleMap(
      this.deps,
      orgRows.map((r) => ({ id: r.role_id, permissions: r.permissions })),
    );
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
      ratelimit:
        row.ratelimit_limit !== null && row.ratelimit_window !== null
          ? { limit: row.ratelimit_limit, windowSeconds: row.ratelimit_window }
          : null,
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

  /**
   * The owner's role bindings in the key's org, in one read with its standing there: null when
   * it no longer stands there (a user no longer a member, a service account of another org or
   * deleted). A project key's owner is its project: "project" while that is in the key's org.
   */
  private async ownerBindings(row: ApiKeysTable): Promise<Binding[] | "project" | null> {
    const db = this.deps.db.kysely;
    if (row.owner_type === "project") {
      const p = await db.selectFrom("projects").select("org_id").where("id", "=", row.owner_id).executeTakeFirst();
      return p?.org_id === row.org_id ? "project" : null;
    }
    // The owner's standing: its org, while it is a member (user) or of that org (service account).
    const standing =
      row.owner_type === "user"
        ? db
            .selectFrom("org_members")
            .select("org_id")
            .where("org_id", "=", row.org_id)
            .where("user_id", "=", row.owner_id)
        : db
            .selectFrom("service_accounts")
            .select("org_id")
            .where("org_id", "=", row.org_id)
            .where("id", "=", row.owner_id);
    // A row per binding, or one with no binding (a left join's nulls); none when the owner is gone.
    const rows = await db
      .selectFrom(standing.as("owner"))
      .leftJoin("bindings", (j) =>
        j.onRef("bindings.org_id", "=", "owner.org_id").on("bindings.principal_id", "=", row.owner_id),
      )
      .select(["bindings.role_id", "bindings.project_id"])
      .execute();
    if (rows.length === 0) return null;
    const bindings: Binding[] = [];
    for (const b of rows) if (b.role_id !== null) bindings.push({ role_id: b.role_id, project_id: b.project_id });
    return bindings;
  }
}

interface Binding {
  role_id: string;
  project_id: string | null;
}
