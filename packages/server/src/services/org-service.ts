import { type Page, type PageRequest, paginate } from "../store/pagination.js";
import { AppError, invalidField } from "../domain/errors.js";
import { newId } from "../domain/ids.js";
import { normaliseIpRules } from "../domain/ip-rules.js";
import { DEFAULT_ORG_SETTINGS, type OrgSettings, loosenedSettings } from "../domain/org-settings.js";
import { type OrgAccess, type OrgView, requireSignedIn, toOrgView } from "./access.js";
import { diff, writeAudit } from "./audit.js";
import type { Deps, RequestCtx } from "./deps.js";

export class OrgService {
  constructor(private deps: Deps) {}

  /** Any signed-in user may create an org (unless the operator turned it off) and owns it. */
  async create(ctx: RequestCtx, name: string): Promise<OrgView> {
    const { actor } = ctx;
    requireSignedIn(actor);
    if (actor.kind !== "user" || actor.limit) {
      throw new AppError("FORBIDDEN", "Only a signed-in user can create an organization");
    }
    if (!this.deps.config.allowOrgCreation) {
      throw new AppError("FORBIDDEN", "The operator has turned off organization creation");
    }
    const t = this.deps.now().toISOString();
    const id = newId("org");
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      await trx
        .insertInto("orgs")
        .values({
          id,
          name,
          is_operator: 0,
          settings: JSON.stringify(DEFAULT_ORG_SETTINGS),
          created_at: t,
          updated_at: t,
          version: 1,
        })
        .execute();
      await trx
        .insertInto("org_members")
        .values({ org_id: id, user_id: actor.id, invited_by: null, created_at: t })
        .execute();
      await trx
        .insertInto("bindings")
        .values({
          id: newId("rb"),
          org_id: id,
          principal_type: "user",
          principal_id: actor.id,
          role_id: "role_owner",
          project_id: null,
          created_at: t,
        })
        .execute();
      await writeAudit(trx, ctx, new Date(t), {
        orgId: id,
        action: "org.create",
        target: { type: "org", id },
        details: { after: { name } },
      });
    });
    return this.get(id);
  }

  async get(id: string): Promise<OrgView> {
    const row = await this.deps.db.kysely.selectFrom("orgs").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
    return toOrgView(row);
  }

  /** Orgs the actor belongs to; a key or token sees only its own org. */
  /** The orgs the caller belongs to (a key or token: its own org), oldest first. */
  async listMine(ctx: RequestCtx, page: PageRequest): Promise<Page<OrgView>> {
    const { actor } = ctx;
    requireSignedIn(actor);
    const db = this.deps.db.kysely;
    let q = db.selectFrom("orgs").selectAll("orgs");
    if (actor.limit) q = q.where("orgs.id", "=", actor.limit.orgId);
    else if (actor.kind === "user") {
      q = q.innerJoin("org_members", "org_members.org_id", "orgs.id").where("org_members.user_id", "=", actor.id);
    } else return { items: [], nextCursor: null };
    const res = await paginate(q, page, { createdAt: "orgs.created_at", id: "orgs.id" }, "asc");
    return { items: res.items.map(toOrgView), nextCursor: res.nextCursor };
  }

  async update(
    ctx: RequestCtx,
    access: OrgAccess,
    patch: { name?: string; settings?: Partial<OrgSettings> },
    ifMatch?: number,
  ): Promise<OrgView> {
    access.require("iam:orgs:update");
    const org = access.org;
    if (ifMatch !== undefined && ifMatch !== org.version) {
      throw new AppError("PRECONDITION_FAILED", "The organization changed since you read it");
    }
    const settings = { ...org.settings, ...(patch.settings ?? {}) };
    if (patch.settings?.allowedIps) {
      const n = normaliseIpRules(patch.settings.allowedIps);
      if ("invalidIndex" in n) {
        throw invalidField(`settings/allowedIps/${n.invalidIndex}`, "not an IPv4/IPv6 address or CIDR", "ip");
      }
      settings.allowedIps = n.rules;
    }
    // A key or token may tighten the policy that confines it, not loosen it (as its own key's limits).
    const loosened = access.actor.limit ? loosenedSettings(org.settings, settings) : [];
    if (loosened.length > 0) {
      throw new AppError(
        "FORBIDDEN",
        "Sign in to loosen the organization's key policy: a key or token may only tighten it",
        {
          errors: loosened.map((path) => ({
            path,
            code: "escalation",
            message: "a key or token may only tighten this",
          })),
        },
      );
    }
    const name = patch.name ?? org.name;
    const changes = diff({ name: org.name, ...org.settings }, { name, ...settings });
    if (Object.keys(changes.after).length === 0) return org; // nothing to change, nothing to audit
    const t = this.deps.now();
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable("orgs")
        .set({ name, settings: JSON.stringify(settings), updated_at: t.toISOString(), version: org.version + 1 })
        .where("id", "=", org.id)
        .where("version", "=", org.version)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1)
        throw new AppError("PRECONDITION_FAILED", "The organization changed concurrently; retry");
      await writeAudit(trx, ctx, t, {
        orgId: org.id,
        action: "org.update",
        target: { type: "org", id: org.id },
        details: changes,
      });
      await this.deps.keyEvents.announce(trx, { kind: "org", orgId: org.id });
    });
    this.deps.keyEvents.emit({ kind: "org", orgId: org.id });
    return this.get(org.id);
  }

  async delete(ctx: RequestCtx, access: OrgAccess): Promise<void> {
    access.require("iam:orgs:delete");
    if (access.org.isOperator) throw new AppError("CONFLICT", "The operator organization cannot be deleted");
    const id = access.org.id;
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      // Keys, members, projects, roles, bindings go with the org (FK cascade).
      await trx.deleteFrom("orgs").where("id", "=", id).execute();
      await writeAudit(trx, ctx, this.deps.now(), { orgId: id, action: "org.delete", target: { type: "org", id } });
      await this.deps.keyEvents.announce(trx, { kind: "org", orgId: id });
    });
    this.deps.keyEvents.emit({ kind: "org", orgId: id });
  }
}
