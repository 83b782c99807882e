import { notFound } from "../domain/errors.js";
import { newId } from "../domain/ids.js";
import { type Page, type PageRequest, paginate } from "../store/pagination.js";
import type { ProjectsTable } from "../store/schema.js";
import type { OrgAccess } from "./access.js";
import { diff, writeAudit, writeAudits } from "./audit.js";
import { deleteOwnedKeys } from "./owned-keys.js";
import type { Deps, RequestCtx } from "./deps.js";

export interface ProjectView {
  id: string;
  orgId: string;
  name: string;
  description: string;
  createdAt: string;
  updatedAt: string;
}

const toView = (r: ProjectsTable): ProjectView => ({
  id: r.id,
  orgId: r.org_id,
  name: r.name,
  description: r.description,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class ProjectService {
  constructor(private deps: Deps) {}

  /** The org a project belongs to, or 404. Route handlers load access with it. */
  async orgOf(projectId: string): Promise<string> {
    const row = await this.deps.db.kysely
      .selectFrom("projects")
      .select("org_id")
      .where("id", "=", projectId)
      .executeTakeFirst();
    if (!row) throw notFound("Project");
    return row.org_id;
  }

  async create(
    ctx: RequestCtx,
    access: OrgAccess,
    input: { name: string; description?: string },
  ): Promise<ProjectView> {
    access.require("iam:projects:create");
    const t = this.deps.now();
    const row: ProjectsTable = {
      id: newId("prj"),
      org_id: access.org.id,
      name: input.name,
      description: input.description ?? "",
      created_at: t.toISOString(),
      updated_at: t.toISOString(),
    };
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      await trx.insertInto("projects").values(row).execute();
      await writeAudit(trx, ctx, t, {
        orgId: access.org.id,
        action: "project.create",
        target: { type: "project", id: row.id },
        details: { after: { name: row.name, description: row.description } },
      });
    });
    return toView(row);
  }

  /**
   * Projects the actor may read: all with org-wide read, else those it is bound on or its
   * credential is kept to, where it may read them.
   */
  async list(access: OrgAccess, page: PageRequest): Promise<Page<ProjectView>> {
    let q = this.deps.db.kysely.selectFrom("projects").selectAll().where("org_id", "=", access.org.id);
    if (!access.can("iam:projects:read")) {
      const candidates = [
        ...access.grants.map((g) => g.projectId).filter((p): p is string => !!p),
        ...(access.actor.limit?.projects ?? []),
      ];
      const ids = [...new Set(candidates)].filter((p) => access.can("iam:projects:read", p));
      if (ids.length === 0) access.require("iam:projects:read");
      q = q.where("id", "in", ids);
    }
    const res = await paginate(q, page);
    return { items: res.items.map(toView), nextCursor: res.nextCursor };
  }

  async get(access: OrgAccess, id: string): Promise<ProjectView> {
    const row = await this.load(access, id);
    access.require("iam:projects:read", id);
    return toView(row);
  }

  async update(
    ctx: RequestCtx,
    access: OrgAccess,
    id: string,
    patch: { name?: string; description?: string },
  ): Promise<ProjectView> {
    const row = await this.load(access, id);
    access.require("iam:projects:update", id);
    const t = this.deps.now();
    const next = { ...row, ...patch, updated_at: t.toISOString() };
    const changes = diff(
      { name: row.name, description: row.description },
      { name: next.name, description: next.description },
    );
    // Nothing to change: no write, no event (as an org's PATCH).
    if (Object.keys(changes.after).length === 0) return toView(row);
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable("projects")
        .set({ name: next.name, description: next.description, updated_at: next.updated_at })
        .where("id", "=", id)
        .executeTakeFirst();
      // Deleted since it was read: no rename of what is gone, and no event saying so.
      if (Number(res.numUpdatedRows) !== 1) throw notFound("Project");
      await writeAudit(trx, ctx, t, {
        orgId: access.org.id,
        action: "project.update",
        target: { type: "project", id },
        details: changes,
      });
    });
    return toView(next);
  }

  /**
   * Deletes the project, its bindings and the keys it owns. Keys that preferred it prefer no
   * project now: a request naming none is no longer placed in a project that is gone. (A key's
   * `allowedProjects` keeps the id, which admits nothing any more: a key kept to it stays kept.)
   */
  async delete(ctx: RequestCtx, access: OrgAccess, id: string): Promise<void> {
    await this.load(access, id);
    access.require("iam:projects:delete", id);
    const t = this.deps.now();
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      // The row first: a key being made for the project, or naming it, meanwhile (which holds
      // the row: key-create, key-update) is committed by then and handled below, or finds it gone.
      await trx.deleteFrom("projects").where("id", "=", id).execute();
      await deleteOwnedKeys(trx, ctx, t, access.org.id, { type: "project", id });
      const preferring = await trx
        .selectFrom("api_keys")
        .select("id")
        .where("org_id", "=", access.org.id)
        .where("default_project_id", "=", id)
        .execute();
      await trx
        .updateTable("api_keys")
        .set((eb) => ({ default_project_id: null, version: eb("version", "+", 1), updated_at: t.toISOString() }))
        .where("org_id", "=", access.org.id)
        .where("default_project_id", "=", id)
        .execute();
      await writeAudits(
        trx,
        ctx,
        t,
        preferring.map((k) => ({
          orgId: access.org.id,
          action: "api_key.update",
          target: { type: "api_key", id: k.id },
          details: {
            reason: `project ${id} deleted`,
            before: { defaultProjectId: id },
            after: { defaultProjectId: null },
          },
        })),
      );
      await writeAudit(trx, ctx, t, {
        orgId: access.org.id,
        action: "project.delete",
        target: { type: "project", id },
      });
      await this.deps.keyEvents.announce(trx, { kind: "org", orgId: access.org.id });
    });
    this.deps.keyEvents.emit({ kind: "org", orgId: access.org.id });
  }

  private async load(access: OrgAccess, id: string): Promise<ProjectsTable> {
    const row = await this.deps.db.kysely
      .selectFrom("projects")
      .selectAll()
      .where("id", "=", id)
      .where("org_id", "=", access.org.id)
      .executeTakeFirst();
    if (!row) throw notFound("Project");
    return row;
  }
}
