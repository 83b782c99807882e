import type { Kysely } from "kysely";
import { AppError, notFound } from "../domain/errors.js";
import type { Database } from "../store/schema.js";
import { type Page, type PageRequest, paginate } from "../store/pagination.js";
import type { OrgAccess } from "./access.js";
import { diff, writeAudit } from "./audit.js";
import { disableLeaversKeys } from "./owned-keys.js";
import type { Deps, RequestCtx } from "./deps.js";
import { type RoleBinding, bindingsOf, checkBindings, normaliseBindings, replaceBindings } from "./role-bindings.js";

export interface MemberView {
  userId: string;
  email: string;
  name: string;
  invitedBy: string | null;
  roles: RoleBinding[];
  joinedAt: string;
}

export class MemberService {
  constructor(private deps: Deps) {}

  async list(access: OrgAccess, page: PageRequest): Promise<Page<MemberView>> {
    access.require("iam:members:read");
    const q = this.deps.db.kysely
      .selectFrom("org_members")
      .innerJoin("users", "users.id", "org_members.user_id")
      .select([
        "users.id as id",
        "users.email",
        "users.name",
        "org_members.invited_by",
        "org_members.created_at as created_at",
      ])
      .where("org_members.org_id", "=", access.org.id);
    const res = await paginate(q, page, { createdAt: "org_members.created_at", id: "users.id" });
    const roles = await bindingsOf(
      this.deps,
      access.org.id,
      res.items.map((r) => r.id),
    );
    return {
      items: res.items.map((r) => ({
        userId: r.id,
        email: r.email,
        name: r.name,
        invitedBy: r.invited_by,
        roles: roles.get(r.id) ?? [],
        joinedAt: r.created_at,
      })),
      nextCursor: res.nextCursor,
    };
  }

  async get(access: OrgAccess, userId: string): Promise<MemberView> {
    const row = await this.deps.db.kysely
      .selectFrom("org_members")
      .innerJoin("users", "users.id", "org_members.user_id")
      .select(["users.id", "users.email", "users.name", "org_members.invited_by", "org_members.created_at"])
      .where("org_members.org_id", "=", access.org.id)
      .where("users.id", "=", userId)
      .executeTakeFirst();
    if (!row) throw notFound("Member");
    const isSelf = access.actor.kind === "user" && access.actor.id === userId;
    if (!isSelf) access.require("iam:members:read");
    const roles = await bindingsOf(this.deps, access.org.id, [userId]);
    return {
      userId: row.id,
      email: row.email,
      name: row.name,
      invitedBy: row.invited_by,
      roles: roles.get(userId) ?? [],
      joinedAt: row.created_at,
    };
  }

  /** Replaces a member's role bindings; the caller must hold what it grants. */
  async setRoles(ctx: RequestCtx, access: OrgAccess, userId: string, roles: RoleBinding[]): Promise<MemberView> {
    const before = await this.get(access, userId);
    access.require("iam:members:manage");
    await checkBindings(this.deps, access, roles, { replacing: before.roles });
    const t = this.deps.now();
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      await this.keepAnOwner(trx, access.org.id, userId, roles);
      // Still a member, now the org is locked: one removed meanwhile gets no bindings.
      await this.stillMember(trx, access.org.id, userId);
      await replaceBindings(trx, this.deps.db.dialect, access.org.id, { type: "user", id: userId }, roles, t);
      await writeAudit(trx, ctx, t, {
        orgId: access.org.id,
        action: "member.update",
        target: { type: "user", id: userId },
        details: diff({ roles: normaliseBindings(before.roles) }, { roles: normaliseBindings(roles) }),
      });
      await this.deps.keyEvents.announce(trx, { kind: "principal", orgId: access.org.id, principalId: userId });
    });
    this.deps.keyEvents.emit({ kind: "principal", orgId: access.org.id, principalId: userId });
    return this.get(access, userId);
  }

  /** Removes a member: bindings go, their keys in this org stop working (they act as nobody). */
  async remove(ctx: RequestCtx, access: OrgAccess, userId: string): Promise<void> {
    const member = await this.get(access, userId);
    // Leaving is the member's own act, from a session (as creating an org or accepting an
    // invitation is). A key or token, even its own, leaves only as it would remove anyone.
    const leaving = access.actor.kind === "user" && access.actor.id === userId && !access.actor.limit;
    if (!leaving) {
      access.require("iam:members:manage");
      await checkBindings(this.deps, access, [], { replacing: member.roles });
    }
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      await this.keepAnOwner(trx, access.org.id, userId, []);
      await trx.deleteFrom("bindings").where("org_id", "=", access.org.id).where("principal_id", "=", userId).execute();
      await trx.deleteFrom("org_members").where("org_id", "=", access.org.id).where("user_id", "=", userId).execute();
      await disableLeaversKeys(trx, ctx, this.deps.now(), access.org.id, userId);
      // What they invited others to, and nobody has accepted yet, goes with them.
      await trx
        .deleteFrom("invitations")
        .where("org_id", "=", access.org.id)
        .where("invited_by", "=", userId)
        .where("accepted_at", "is", null)
        .execute();
      const left = await trx
        .selectFrom("org_members")
        .select("org_id")
        .where("user_id", "=", userId)
        .executeTakeFirst();
      // A user who belongs nowhere any more has nothing to be signed in to.
      if (!left) await trx.deleteFrom("sessions").where("user_id", "=", userId).execute();
      await writeAudit(trx, ctx, this.deps.now(), {
        orgId: access.org.id,
        action: "member.remove",
        target: { type: "user", id: userId },
      });
      await this.deps.keyEvents.announce(trx, { kind: "principal", orgId: access.org.id, principalId: userId });
    });
    this.deps.keyEvents.emit({ kind: "principal", orgId: access.org.id, principalId: userId });
  }

  /** 404 unless `userId` is (still) a member of the org. */
  private async stillMember(trx: Kysely<Database>, orgId: string, userId: string): Promise<void> {
    const row = await trx
      .selectFrom("org_members")
      .select("user_id")
      .where("org_id", "=", orgId)
      .where("user_id", "=", userId)
      .executeTakeFirst();
    if (!row) throw notFound("Member");
  }

  /**
   * An org must keep at least one org-wide owner. Runs inside the change's transaction with
   * the org row locked (PostgreSQL), so two owners demoting each other at once cannot both win.
   */
  private async keepAnOwner(
    trx: Kysely<Database>,
    orgId: string,
    userId: string,
    nextRoles: RoleBinding[],
  ): Promise<void> {
    if (this.deps.db.dialect === "postgres") {
      await trx.selectFrom("orgs").select("id").where("id", "=", orgId).forUpdate().execute();
    }
    if (nextRoles.some((r) => r.roleId === "role_owner" && !r.projectId)) return;
    // Owners who are members: a binding left for someone no longer in the org owns nothing.
    const owners = await trx
      .selectFrom("bindings")
      .innerJoin("org_members", (j) =>
        j
          .onRef("org_members.user_id", "=", "bindings.principal_id")
          .onRef("org_members.org_id", "=", "bindings.org_id"),
      )
      .select("bindings.principal_id")
      .where("bindings.org_id", "=", orgId)
      .where("bindings.role_id", "=", "role_owner")
      .where("bindings.project_id", "is", null)
      .where("bindings.principal_type", "=", "user")
      .execute();
    const others = owners.filter((o) => o.principal_id !== userId);
    if (others.length === 0) throw new AppError("CONFLICT", "An organization needs at least one owner");
  }
}
