import { sql } from "kysely";
import { type Page, type PageRequest, paginate } from "../store/pagination.js";
import { AppError, invalidField, notFound } from "../domain/errors.js";
import { newId } from "../domain/ids.js";
import { expandGrants } from "../domain/permissions/grants.js";
import { expand } from "../domain/permissions/match.js";
import { BUILTIN_ROLE_IDS } from "../domain/permissions/roles.js";
import type { RolesTable } from "../store/schema.js";
import type { OrgAccess } from "./access.js";
import { diff, writeAudit } from "./audit.js";
import type { Deps, RequestCtx } from "./deps.js";

export interface RoleView {
  id: string;
  orgId: string | null;
  name: string;
  description: string;
  permissions: string[];
  builtin: boolean;
  createdAt: string | null;
  updatedAt: string | null;
}

const toView = (r: RolesTable): RoleView => ({
  id: r.id,
  orgId: r.org_id,
  name: r.name,
  description: r.description,
  permissions: JSON.parse(r.permissions) as string[],
  builtin: false,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class RoleService {
  constructor(private deps: Deps) {}

  builtins(): RoleView[] {
    return this.deps.builtinRoles.map((r) => ({ ...r, orgId: null, builtin: true, createdAt: null, updatedAt: null }));
  }

  /** The org a custom role belongs to; built-in roles belong to none (null). 404 if unknown. */
  async orgOf(roleId: string): Promise<string | null> {
    if (BUILTIN_ROLE_IDS.has(roleId)) return null;
    const row = await this.deps.db.kysely
      .selectFrom("roles")
      .select("org_id")
      .where("id", "=", roleId)
      .executeTakeFirst();
    if (!row) throw notFound("Role");
    return row.org_id;
  }

  getBuiltin(roleId: string): RoleView {
    const r = this.builtins().find((b) => b.id === roleId);
    if (!r) throw notFound("Role");
    return r;
  }

  /** The built-in roles lead the first page (outside `limit`), then custom roles, oldest first. */
  async list(access: OrgAccess, page: PageRequest): Promise<Page<RoleView>> {
    access.require("iam:roles:read");
    const q = this.deps.db.kysely.selectFrom("roles").selectAll().where("org_id", "=", access.org.id);
    const res = await paginate(q, page, undefined, "asc");
    const custom = res.items.map(toView);
    return { items: page.cursor ? custom : [...this.builtins(), ...custom], nextCursor: res.nextCursor };
  }

  async get(access: OrgAccess, id: string): Promise<RoleView> {
    const row = await this.load(access, id);
    access.require("iam:roles:read");
    return toView(row);
  }

  async create(
    ctx: RequestCtx,
    access: OrgAccess,
    input: { name: string; description?: string; permissions: string[] },
  ): Promise<RoleView> {
    access.require("iam:roles:create");
    this.checkPermissions(access, input.permissions);
    await this.checkNameFree(access.org.id, input.name);
    const t = this.deps.now().toISOString();
    const row: RolesTable = {
      id: newId("role"),
      org_id: access.org.id,
      name: input.name,
      description: input.description ?? "",
      permissions: JSON.stringify([...new Set(input.permissions)]),
      created_at: t,
      updated_at: t,
    };
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      await trx.insertInto("roles").values(row).execute();
      await writeAudit(trx, ctx, new Date(t), {
        orgId: access.org.id,
        action: "role.create",
        target: { type: "role", id: row.id },
        details: { after: { name: row.name, permissions: JSON.parse(row.permissions) } },
      });
    });
    return toView(row);
  }

  async update(
    ctx: RequestCtx,
    access: OrgAccess,
    id: string,
    patch: { name?: string; description?: string; permissions?: string[] },
  ): Promise<RoleView> {
    const row = await this.load(access, id);
    access.require("iam:roles:update");
    if (patch.permissions) this.checkPermissions(access, patch.permissions);
    if (patch.name && patch.name !== row.name) await this.checkNameFree(access.org.id, patch.name, row.id);
    const before = toView(row);
    const next: RolesTable = {
      ...row,
      name: patch.name ?? row.name,
      description: patch.description ?? row.description,
      permissions: patch.permissions ? JSON.stringify([...new Set(patch.permissions)]) : row.permissions,
      updated_at: this.deps.now().toISOString(),
    };
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      await trx
        .updateTable("roles")
        .set({
          name: next.name,
          description: next.description,
          permissions: next.permissions,
          updated_at: next.updated_at,
        })
        .where("id", "=", id)
        .execute();
      const after = toView(next);
      await writeAudit(trx, ctx, new Date(next.updated_at), {
        orgId: access.org.id,
        action: "role.update",
        target: { type: "role", id },
        details: diff(
          { name: before.name, description: before.description, permissions: before.permissions },
          { name: after.name, description: after.description, permissions: after.permissions },
        ),
      });
      await this.deps.keyEvents.announce(trx, { kind: "org", orgId: access.org.id });
    });
    this.deps.keyEvents.emit({ kind: "org", orgId: access.org.id });
    return toView(next);
  }

  async delete(ctx: RequestCtx, access: OrgAccess, id: string): Promise<void> {
    await this.load(access, id);
    access.require("iam:roles:delete");
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      // The row first, then the check: a binding being written meanwhile (which holds the row:
      // replaceBindings) is committed by then and seen, or its writer finds the role gone.
      await trx.deleteFrom("roles").where("id", "=", id).execute();
      const bound = await trx.selectFrom("bindings").select("id").where("role_id", "=", id).executeTakeFirst();
      if (bound) throw new AppError("CONFLICT", "The role is still bound to principals; unbind it first");
      await writeAudit(trx, ctx, this.deps.now(), {
        orgId: access.org.id,
        action: "role.delete",
        target: { type: "role", id },
      });
      await this.deps.keyEvents.announce(trx, { kind: "org", orgId: access.org.id });
    });
    // Keys may name the role directly (`roles`), without any binding: they resolve differently now.
    this.deps.keyEvents.emit({ kind: "org", orgId: access.org.id });
  }

  /**
   * Every pattern must name something in the catalog, and the caller must hold all of it
   * (a role is a way to hand permissions out).
   */
  private checkPermissions(access: OrgAccess, permissions: string[]): void {
    const mine = expandGrants(access.grants, this.deps.catalog, access.org.isOperator).org;
    permissions.forEach((p, i) => {
      const covered = expand([p], this.deps.catalog, access.org.isOperator);
      if (covered.size === 0)
        throw invalidField(`permissions/${i}`, `${p} matches nothing in the permission catalog`, "unknown_permission");
      // Held: the principal's grants within its credential's limits (a key's list, read-only).
      const missing = [...covered].filter((c) => !mine.has(c) || !access.can(c));
      if (missing.length > 0) {
        throw new AppError(
          "FORBIDDEN",
          `You cannot put permissions you do not hold into a role: ${missing.slice(0, 5).join(", ")}`,
          {
            errors: [{ path: `permissions/${i}`, code: "escalation", message: "grants more than you hold" }],
          },
        );
      }
    });
  }

  /** Names are unique in an org regardless of case, built-in roles' included ("Owner" reads as owner). */
  private async checkNameFree(orgId: string, name: string, exceptId?: string): Promise<void> {
    const lower = name.toLowerCase();
    const builtin = this.deps.builtinRoles.some((r) => r.name.toLowerCase() === lower);
    let q = this.deps.db.kysely
      .selectFrom("roles")
      .select("id")
      .where("org_id", "=", orgId)
      .where(sql<string>`lower(name)`, "=", lower);
    if (exceptId) q = q.where("id", "!=", exceptId);
    const row = await q.executeTakeFirst();
    if (builtin || row) throw invalidField("name", `a role named ${name} already exists`, "duplicate");
  }

  private async load(access: OrgAccess, id: string): Promise<RolesTable> {
    const row = await this.deps.db.kysely
      .selectFrom("roles")
      .selectAll()
      .where("id", "=", id)
      .where("org_id", "=", access.org.id)
      .executeTakeFirst();
    if (!row) throw notFound("Role");
    return row;
  }
}
