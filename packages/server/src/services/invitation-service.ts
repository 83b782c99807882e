import { type Page, type PageRequest, paginate } from "../store/pagination.js";
import { AppError, invalidField, notFound } from "../domain/errors.js";
import { newId, randomBase62 } from "../domain/ids.js";
import { BUILTIN_ROLE_IDS } from "../domain/permissions/roles.js";
import type { InvitationsTable } from "../store/schema.js";
import type { OrgAccess } from "./access.js";
import { writeAudit } from "./audit.js";
import { sha256 } from "./auth-service.js";
import type { Deps, RequestCtx } from "./deps.js";
import { hashPassword } from "./passwords.js";
import {
  type RoleBinding,
  checkBindings,
  normaliseBindings,
  replaceBindings,
  stillGrantable,
} from "./role-bindings.js";

export const INVITATION_TTL_DAYS = 7;

export interface InvitationView {
  id: string;
  orgId: string;
  email: string;
  roles: RoleBinding[];
  invitedBy: string;
  createdAt: string;
  expiresAt: string;
  acceptedAt: string | null;
}

const toView = (r: InvitationsTable): InvitationView => ({
  id: r.id,
  orgId: r.org_id,
  email: r.email,
  roles: JSON.parse(r.roles) as RoleBinding[],
  invitedBy: r.invited_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  acceptedAt: r.accepted_at,
});

export class InvitationService {
  constructor(private deps: Deps) {}

  /** Invites an email with roles; returns the acceptance token once (only its hash is kept). */
  async create(
    ctx: RequestCtx,
    access: OrgAccess,
    input: { email: string; roles?: RoleBinding[] },
  ): Promise<{ invitation: InvitationView; token: string }> {
    access.require("iam:invitations:create");
    if (access.actor.kind !== "user") throw new AppError("FORBIDDEN", "Only users can invite");
    const roles = input.roles ?? [{ roleId: "role_member", projectId: null }];
    await checkBindings(this.deps, access, roles);
    const email = input.email.trim().toLowerCase();
    const existing = await this.deps.db.kysely
      .selectFrom("org_members")
      .innerJoin("users", "users.id", "org_members.user_id")
      .select("users.id")
      .where("org_members.org_id", "=", access.org.id)
      .where("users.email", "=", email)
      .executeTakeFirst();
    if (existing) throw invalidField("email", "this user is already a member", "already_member");
    const token = `inv_${randomBase62(40)}`;
    const t = this.deps.now();
    const row: InvitationsTable = {
      id: newId("inv"),
      org_id: access.org.id,
      email,
      roles: JSON.stringify(normaliseBindings(roles)),
      token_hash: sha256(token),
      invited_by: access.actor.id,
      created_at: t.toISOString(),
      expires_at: new Date(t.getTime() + INVITATION_TTL_DAYS * 86400_000).toISOString(),
      accepted_at: null,
      accepted_by: null,
    };
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      await trx.insertInto("invitations").values(row).execute();
      await writeAudit(trx, ctx, t, {
        orgId: access.org.id,
        action: "invitation.create",
        target: { type: "invitation", id: row.id },
        details: { after: { email, roles: JSON.parse(row.roles) } },
      });
    });
    return { invitation: toView(row), token };
  }

  /** Invitations not yet accepted and not expired, newest first. */
  async listPending(access: OrgAccess, page: PageRequest): Promise<Page<InvitationView>> {
    access.require("iam:members:read");
    const q = this.deps.db.kysely
      .selectFrom("invitations")
      .selectAll()
      .where("org_id", "=", access.org.id)
      .where("accepted_at", "is", null)
      .where("expires_at", ">", this.deps.now().toISOString());
    const res = await paginate(q, page);
    return { items: res.items.map(toView), nextCursor: res.nextCursor };
  }

  async orgOf(id: string): Promise<string> {
    const row = await this.deps.db.kysely
      .selectFrom("invitations")
      .select("org_id")
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw notFound("Invitation");
    return row.org_id;
  }

  async revoke(ctx: RequestCtx, access: OrgAccess, id: string): Promise<void> {
    access.require("iam:invitations:create");
    const res = await this.deps.db.kysely.transaction().execute(async (trx) => {
      const r = await trx
        .deleteFrom("invitations")
        .where("id", "=", id)
        .where("org_id", "=", access.org.id)
        .where("accepted_at", "is", null)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 1) {
        await writeAudit(trx, ctx, this.deps.now(), {
          orgId: access.org.id,
          action: "invitation.revoke",
          target: { type: "invitation", id },
        });
      }
      return r;
    });
    if (Number(res.numDeletedRows) !== 1) throw notFound("Invitation");
  }

  /**
   * Accepts an invitation: an existing user with that email joins the org; otherwise a
   * user is created with the given name and password. `invitedBy` is recorded.
   */
  async accept(
    ctx: RequestCtx,
    token: string,
    input: { name?: string; password?: string },
  ): Promise<{ orgId: string; userId: string; created: boolean }> {
    const { db, now } = this.deps;
    const t = now();
    const row = await db.kysely
      .selectFrom("invitations")
      .selectAll()
      .where("token_hash", "=", sha256(token))
      .executeTakeFirst();
    if (!row || row.accepted_at || row.expires_at <= t.toISOString()) throw notFound("Invitation");
    // Accepting is a person's own act, signed in or not: never a key's or a token's (which
    // would create an account, or join one, in another's name).
    const { actor } = ctx;
    if (actor.kind !== "anonymous" && (actor.kind !== "user" || actor.limit)) {
      throw new AppError(
        "FORBIDDEN",
        "An invitation is accepted by a person, signed in or not, not with an API key or token",
      );
    }
    const user = await db.kysely.selectFrom("users").select("id").where("email", "=", row.email).executeTakeFirst();
    if (user) {
      // An existing account joins only by its own hand: whoever else holds the token
      // (the inviter included) cannot add it to an org.
      if (actor.kind === "anonymous") {
        throw new AppError("UNAUTHENTICATED", "Sign in with the invited account to accept this invitation");
      }
      if (actor.kind !== "user" || actor.id !== user.id || actor.limit) {
        throw new AppError("FORBIDDEN", "This invitation is for another account");
      }
    }
    let passwordHash: string | null = null;
    if (!user) {
      if (!input.password) throw invalidField("password", "a password is required to create your account", "required");
      if (!input.name) throw invalidField("name", "a name is required to create your account", "required");
      passwordHash = await hashPassword(input.password);
    }
    const userId = user?.id ?? newId("usr");
    // What the inviter may still grant (read before the transaction: SQLite's one connection is its).
    const org = await db.kysely
      .selectFrom("orgs")
      .select("is_operator")
      .where("id", "=", row.org_id)
      .executeTakeFirst();
    const grantable = normaliseBindings(
      await stillGrantable(
        this.deps,
        { id: row.org_id, isOperator: org?.is_operator === 1 },
        row.invited_by,
        JSON.parse(row.roles) as RoleBinding[],
      ),
    );
    await db.kysely.transaction().execute(async (trx) => {
      // Guarded: only one acceptance wins.
      const upd = await trx
        .updateTable("invitations")
        .set({ accepted_at: t.toISOString(), accepted_by: userId })
        .where("id", "=", row.id)
        .where("accepted_at", "is", null)
        .executeTakeFirst();
      if (Number(upd.numUpdatedRows) !== 1) throw notFound("Invitation");
      if (!user && passwordHash) {
        await trx
          .insertInto("users")
          .values({
            id: userId,
            email: row.email,
            name: input.name ?? row.email,
            password_hash: passwordHash,
            must_change_password: 0,
            created_at: t.toISOString(),
            updated_at: t.toISOString(),
          })
          .execute();
      }
      const member = await trx
        .selectFrom("org_members")
        .select("user_id")
        .where("org_id", "=", row.org_id)
        .where("user_id", "=", userId)
        .executeTakeFirst();
      // Already a member (an earlier invitation accepted): its roles would be dropped while it
      // reads as accepted. It stays pending, for whoever sent it to see, revoke or act on.
      if (member) {
        throw new AppError(
          "CONFLICT",
          "You are already a member of this organization: ask an administrator to change your roles",
        );
      }
      await trx
        .insertInto("org_members")
        .values({ org_id: row.org_id, user_id: userId, invited_by: row.invited_by, created_at: t.toISOString() })
        .execute();
      // Roles or projects deleted since the invitation was sent are dropped, not bound.
      const wanted = JSON.parse(row.roles) as RoleBinding[];
      const customRoles = new Set(
        (await trx.selectFrom("roles").select("id").where("org_id", "=", row.org_id).execute()).map((r) => r.id),
      );
      const projects = new Set(
        (await trx.selectFrom("projects").select("id").where("org_id", "=", row.org_id).execute()).map((p) => p.id),
      );
      const existing = wanted.filter(
        (b) =>
          (BUILTIN_ROLE_IDS.has(b.roleId) || customRoles.has(b.roleId)) && (!b.projectId || projects.has(b.projectId)),
      );
      // And so are roles beyond what the inviter holds now (removed or demoted since).
      const roles = existing.filter((b) =>
        grantable.some((g) => g.roleId === b.roleId && g.projectId === (b.projectId ?? null)),
      );
      await replaceBindings(trx, this.deps.db.dialect, row.org_id, { type: "user", id: userId }, roles, t);
      await writeAudit(trx, ctx, t, {
        orgId: row.org_id,
        action: "invitation.accept",
        target: { type: "user", id: userId },
        details: { after: { invitationId: row.id, invitedBy: row.invited_by, created: !user } },
      });
      await this.deps.keyEvents.announce(trx, { kind: "principal", orgId: row.org_id, principalId: userId });
    });
    // A returning member's keys come back to life, and joining the operator org may let them verify.
    this.deps.keyEvents.emit({ kind: "principal", orgId: row.org_id, principalId: userId });
    return { orgId: row.org_id, userId, created: !user };
  }
}
