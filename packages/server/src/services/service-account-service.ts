import { notFound } from "../domain/errors.js";
import { newId } from "../domain/ids.js";
import { type Page, type PageRequest, paginate } from "../store/pagination.js";
import type { ServiceAccountsTable } from "../store/schema.js";
import type { OrgAccess } from "./access.js";
import { diff, writeAudit } from "./audit.js";
import { deleteOwnedKeys } from "./owned-keys.js";
import type { Deps, RequestCtx } from "./deps.js";
import { type RoleBinding, bindingsOf, checkBindings, normaliseBindings, replaceBindings } from "./role-bindings.js";

export interface ServiceAccountView {
  id: string;
  orgId: string;
  name: string;
  description: string;
  roles: RoleBinding[];
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

const toView = (r: ServiceAccountsTable, roles: RoleBinding[]): ServiceAccountView => ({
  id: r.id,
  orgId: r.org_id,
  name: r.name,
  description: r.description,
  roles,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class ServiceAccountService {
  constructor(private deps: Deps) {}

  async orgOf(id: string): Promise<string> {
    const row = await this.deps.db.kysely
      .selectFrom("service_accounts")
      .select("org_id")
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw notFound("Service account");
    return row.org_id;
  }

  async create(
    ctx: RequestCtx,
    access: OrgAccess,
    input: { name: string; description?: string; roles?: RoleBinding[] },
  ): Promise<ServiceAccountView> {
    access.require("iam:serviceaccounts:create");
    const roles = input.roles ?? [];
    if (roles.length > 0) {
      access.require("iam:bindings:manage");
      await checkBindings(this.deps, access, roles);
    }
    const t = this.deps.now();
    const row: ServiceAccountsTable = {
      id: newId("sa"),
      org_id: access.org.id,
      name: input.name,
      description: input.description ?? "",
      created_by: access.actor.id,
      created_at: t.toISOString(),
      updated_at: t.toISOString(),
    };
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      await trx.insertInto("service_accounts").values(row).execute();
      await replaceBindings(
        trx,
        this.deps.db.dialect,
        access.org.id,
        { type: "service_account", id: row.id },
        roles,
        t,
      );
      await writeAudit(trx, ctx, t, {
        orgId: access.org.id,
        action: "service_account.create",
        target: { type: "service_account", id: row.id },
        details: { after: { name: row.name, description: row.description, roles: normaliseBindings(roles) } },
      });
    });
    // What it just made, answered without iam:serviceaccounts:read (create alone suffices).
    return toView(row, normaliseBindings(roles));
  }

  async list(access: OrgAccess, page: PageRequest): Promise<Page<ServiceAccountView>> {
    access.require("iam:serviceaccounts:read");
    const res = await paginate(
      this.deps.db.kysely.selectFrom("service_accounts").selectAll().where("org_id", "=", access.org.id),
      page,
    );
    const roles = await bindingsOf(
      this.deps,
      access.org.id,
      res.items.map((r) => r.id),
    );
    return { items: res.items.map((r) => toView(r, roles.get(r.id) ?? [])), nextCursor: res.nextCursor };
  }

  async get(access: OrgAccess, id: string): Promise<ServiceAccountView> {
    access.require("iam:serviceaccounts:read");
    return this.view(access, id);
  }

  /** The account and its bindings, with no read check: for answering a change the caller may make. */
  private async view(access: OrgAccess, id: string): Promise<ServiceAccountView> {
    const row = await this.load(access, id);
    const roles = await bindingsOf(this.deps, access.org.id, [id]);
    return toView(row, roles.get(id) ?? []);
  }

  async update(
    ctx: RequestCtx,
    access: OrgAccess,
    id: string,
    patch: { name?: string; description?: string; roles?: RoleBinding[] },
  ): Promise<ServiceAccountView> {
    const row = await this.load(access, id);
    access.require("iam:serviceaccounts:update");
    const before = await this.view(access, id);
    if (patch.roles) {
      access.require("iam:bindings:manage");
      await checkBindings(this.deps, access, patch.roles, { replacing: before.roles });
    }
    const t = this.deps.now();
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable("service_accounts")
        .set({
          name: patch.name ?? row.name,
          description: patch.description ?? row.description,
          updated_at: t.toISOString(),
        })
        .where("id", "=", id)
        .executeTakeFirst();
      // Deleted meanwhile (the row is locked from here on): no bindings for an account gone.
      if (Number(res.numUpdatedRows) !== 1) throw notFound("Service account");
      if (patch.roles)
        await replaceBindings(
          trx,
          this.deps.db.dialect,
          access.org.id,
          { type: "service_account", id },
          patch.roles,
          t,
        );
      await writeAudit(trx, ctx, t, {
        orgId: access.org.id,
        action: "service_account.update",
        target: { type: "service_account", id },
        details: diff(
          { name: before.name, description: before.description, roles: normaliseBindings(before.roles) },
          {
            name: patch.name ?? before.name,
            description: patch.description ?? before.description,
            roles: normaliseBindings(patch.roles ?? before.roles),
          },
        ),
      });
      await this.deps.keyEvents.announce(trx, { kind: "principal", orgId: access.org.id, principalId: id });
    });
    this.deps.keyEvents.emit({ kind: "principal", orgId: access.org.id, principalId: id });
    return this.view(access, id);
  }

  /** Deletes the service account, its bindings and its keys. */
  async delete(ctx: RequestCtx, access: OrgAccess, id: string): Promise<void> {
    await this.load(access, id);
    access.require("iam:serviceaccounts:delete");
    // Deleting the account takes its roles away: only from whoever could have granted them.
    const bound = (await bindingsOf(this.deps, access.org.id, [id])).get(id) ?? [];
    await checkBindings(this.deps, access, [], { replacing: bound });
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      // The account's row first: a change to it under way finishes before (and what it bound
      // is then deleted below), or finds it gone.
      await trx.deleteFrom("service_accounts").where("id", "=", id).execute();
      await deleteOwnedKeys(trx, ctx, this.deps.now(), access.org.id, { type: "service_account", id });
      await trx.deleteFrom("bindings").where("principal_id", "=", id).execute();
      await writeAudit(trx, ctx, this.deps.now(), {
        orgId: access.org.id,
        action: "service_account.delete",
        target: { type: "service_account", id },
      });
      await this.deps.keyEvents.announce(trx, { kind: "principal", orgId: access.org.id, principalId: id });
    });
    this.deps.keyEvents.emit({ kind: "principal", orgId: access.org.id, principalId: id });
  }

  private async load(access: OrgAccess, id: string): Promise<ServiceAccountsTable> {
    const row = await this.deps.db.kysely
      .selectFrom("service_accounts")
      .selectAll()
      .where("id", "=", id)
      .where("org_id", "=", access.org.id)
      .executeTakeFirst();
    if (!row) throw notFound("Service account");
    return row;
  }
}
