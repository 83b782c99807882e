import type { ResolvedKey } from "../domain/keys/decide.js";
import { effectivePermissions } from "../domain/keys/effective.js";
import { keyPermissionSet, parseList, parseRules } from "../domain/keys/record.js";
import { hashSecret, isWellFormedSecret } from "../domain/keys/secret.js";
import { parseOrgSettings } from "../domain/org-settings.js";
import type { Grant } from "../domain/permissions/grants.js";
import type { ApiKeysTable } from "../store/schema.js";
import { rolePermissions } from "./access.js";
import type { Deps } from "./deps.js";

export type { ResolvedKey } from "../domain/keys/decide.js";

/**
 * Turns a presented secret into a `ResolvedKey`: the key, its org's policy and its owner's
 * current grants. No caching here (the verification path wraps it with one, invalidated
 * through deps.keyEvents).
 * @example const key = await new KeyResolver(deps).resolve("kw_…"); decide(key, { method: "GET" }, deps.now())
 */
export class KeyResolver {
  constructor(private deps: Deps) {}

  /** Format and checksum only, no I/O: typos and random strings fail here. */
  isWellFormed(secret: string): boolean {
    return isWellFormedSecret(secret, this.deps.config.keyPrefix);
  }

  /** The key a secret belongs to, or null (malformed, unknown, or a previous secret past its grace). */
  async resolve(secret: string): Promise<ResolvedKey | null> {
    // Checksum first: a mistyped or made-up token costs no hashing and no lookup.
    if (!this.isWellFormed(secret)) return null;
    const hash = hashSecret(secret, this.deps.pepper);
    const db = this.deps.db.kysely;
    let row = await db.selectFrom("api_keys").selectAll().where("secret_hash", "=", hash).executeTakeFirst();
    let matched: ResolvedKey["matched"] = "current";
    if (!row) {
      row = await db.selectFrom("api_keys").selectAll().where("previous_hash", "=", hash).executeTakeFirst();
      // The previous secret of a regenerated key works only until its grace period ends.
      if (!row?.previous_expires_at || Date.parse(row.previous_expires_at) <= this.deps.now().getTime()) return null;
      matched = "previous";
    }
    return this.resolveRow(row, matched);
  }

  /** Resolves a stored key row (also used by the key service to report effective permissions). */
  async resolveRow(row: ApiKeysTable, matched: ResolvedKey["matched"] = "current"): Promise<ResolvedKey | null> {
    const db = this.deps.db.kysely;
    const org = await db
      .selectFrom("orgs")
      .select(["id", "is_operator", "settings"])
      .where("id", "=", row.org_id)
      .executeTakeFirst();
    if (!org) return null;
    const isOperator = org.is_operator === 1;
    const settings = parseOrgSettings(org.settings);
    const roles = await rolePermissions(this.deps, row.org_id);
    const { active, grants } = await this.ownerGrants(row, roles);
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

  /** The owner's grants now, and whether it still stands in the key's org. */
  private async ownerGrants(
    row: ApiKeysTable,
    roles: Map<string, string[]>,
  ): Promise<{ active: boolean; grants: Grant[] }> {
    const db = this.deps.db.kysely;
    if (row.owner_type === "project") {
      const p = await db.selectFrom("projects").select("org_id").where("id", "=", row.owner_id).executeTakeFirst();
      // A project key acts only inside its project; its own list says what it may do there.
      return p?.org_id === row.org_id
        ? { active: true, grants: [{ pattern: "*", projectId: row.owner_id }] }
        : { active: false, grants: [] };
    }
    if (row.owner_type === "user") {
      const m = await db
        .selectFrom("org_members")
        .select("user_id")
        .where("org_id", "=", row.org_id)
        .where("user_id", "=", row.owner_id)
        .executeTakeFirst();
      if (!m) return { active: false, grants: [] };
    } else {
      const sa = await db
        .selectFrom("service_accounts")
        .select("org_id")
        .where("id", "=", row.owner_id)
        .executeTakeFirst();
      if (sa?.org_id !== row.org_id) return { active: false, grants: [] };
    }
    const bindings = await db
      .selectFrom("bindings")
      .select(["role_id", "project_id"])
      .where("org_id", "=", row.org_id)
      .where("principal_id", "=", row.owner_id)
      .execute();
    const grants: Grant[] = [];
    for (const b of bindings)
      for (const pattern of roles.get(b.role_id) ?? []) grants.push({ pattern, projectId: b.project_id });
    return { active: true, grants };
  }
}
