import { createHash, timingSafeEqual } from "node:crypto";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { AppError, invalidField } from "../domain/errors.js";
import { newId, randomBase62 } from "../domain/ids.js";
import { compiledQuery } from "../store/compiled-query.js";
import { writeAudit } from "./audit.js";
import type { Deps, RequestCtx } from "./deps.js";
import { dummyHash, hashPassword, verifyPassword } from "./passwords.js";

export const SESSION_TOKEN_PREFIX = "sess_";
export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface UserView {
  id: string;
  email: string;
  name: string;
  mustChangePassword: boolean;
  createdAt: string;
}

export interface SessionInfo {
  sessionId: string;
  userId: string;
  csrfToken: string;
  expiresAt: string;
  /** Its user signed in with a generated or reset password, not changed yet (see `resolve`). */
  mustChangePassword?: boolean;
}

const ACCOUNT_ATTEMPTS = 10;
const IP_ATTEMPTS = 50;

/**
 * Password guessing throttled, in memory (per node): per account (10 failures in 15 minutes)
 * and per IP address (50). An attempt takes its point before the password is checked, so
 * guesses sent at once cannot all pass the check while the first ones are still hashing; a
 * success gives the address its point back and clears the account's count. Login and
 * password change share the account's count.
 */
export class LoginGuard {
  private perAccount = new RateLimiterMemory({ points: ACCOUNT_ATTEMPTS, duration: 15 * 60 });
  private perIp = new RateLimiterMemory({ points: IP_ATTEMPTS, duration: 15 * 60 });

  /** Takes an attempt's point from the account and the address, or throws RATE_LIMITED. */
  async attempt(account: string, ip: string): Promise<void> {
    const taken = await Promise.allSettled([this.perAccount.consume(account), this.perIp.consume(ip)]);
    const refused = taken.find((t) => t.status === "rejected");
    if (!refused) return;
    const wait = (refused.reason as { msBeforeNext?: number }).msBeforeNext;
    if (typeof wait !== "number") throw refused.reason; // not the limiter's answer
    throw new AppError("RATE_LIMITED", "Too many failed attempts; try again later", {
      headers: { "retry-after": String(Math.max(1, Math.ceil(wait / 1000))) },
    });
  }

  /** The password was right: the account starts afresh and the address gets its point back. */
  async succeed(account: string, ip: string): Promise<void> {
    await Promise.all([this.perAccount.delete(account), this.perIp.reward(ip, 1)]);
  }
}

export class AuthService {
  constructor(
    private deps: Deps,
    private guard = new LoginGuard(),
  ) {}

  /** Checks a password and opens a session. Every failure looks the same to the caller. */
  async login(ctx: RequestCtx, email: string, password: string): Promise<{ token: string; session: SessionInfo }> {
    const { db, config, now } = this.deps;
    const normalized = email.trim().toLowerCase();
    const ip = ctx.ip ?? "unknown";
    await this.guard.attempt(normalized, ip);
    const user = await db.kysely
      .selectFrom("users")
      .select(["id", "password_hash"])
      .where("email", "=", normalized)
      .executeTakeFirst();
    // Verify against a dummy hash for unknown emails so both paths take as long.
    const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), password);
    if (!user || !ok) {
      await writeAudit(db.kysely, ctx, now(), {
        orgId: null,
        action: "auth.login",
        result: "denied",
        target: user ? { type: "user", id: user.id } : undefined,
      });
      throw new AppError("INVALID_CREDENTIALS", "Email or password is wrong");
    }
    await this.guard.succeed(normalized, ip);
    // Session tokens: 32 base62 chars ≈ 190 random bits; only their SHA-256 is stored.
    const token = SESSION_TOKEN_PREFIX + randomBase62(32);
    const t = now();
    const session: SessionInfo = {
      sessionId: newId("sess"),
      userId: user.id,
      csrfToken: randomBase62(32),
      expiresAt: new Date(t.getTime() + config.sessionTtlSeconds * 1000).toISOString(),
    };
    await db.kysely.transaction().execute(async (trx) => {
      await trx
        .insertInto("sessions")
        .values({
          token_hash: sha256(token),
          id: session.sessionId,
          user_id: user.id,
          csrf_token: session.csrfToken,
          created_at: t.toISOString(),
          expires_at: session.expiresAt,
          ip: ctx.ip,
          user_agent: ctx.userAgent?.slice(0, 500) ?? null,
        })
        .execute();
      await writeAudit(
        trx,
        { ...ctx, actor: { kind: "user", id: user.id, credential: { type: "session", id: session.sessionId } } },
        t,
        {
          orgId: null,
          action: "auth.login",
          target: { type: "user", id: user.id },
        },
      );
    });
    return { token, session };
  }

  async getUser(id: string): Promise<UserView> {
    const u = await this.deps.db.kysely
      .selectFrom("users")
      .select(["id", "email", "name", "must_change_password", "created_at"])
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    return {
      id: u.id,
      email: u.email,
      name: u.name,
      mustChangePassword: u.must_change_password === 1,
      createdAt: u.created_at,
    };
  }

  /** Every request with a session reads it: compiled once (a prepared statement on PostgreSQL). */
  private readonly sessionByTokenHash = compiledQuery(
    () => this.deps.db.kysely,
    (hash) =>
      this.deps.db.kysely
        .selectFrom("sessions")
        .innerJoin("users", "users.id", "sessions.user_id")
        .select([
          "sessions.id",
          "sessions.user_id",
          "sessions.csrf_token",
          "sessions.expires_at",
          "users.must_change_password",
        ])
        .where("sessions.token_hash", "=", hash),
  );

  /** The live session a token names, or null (unknown or expired). */
  async resolve(token: string): Promise<SessionInfo | null> {
    if (!token.startsWith(SESSION_TOKEN_PREFIX) || token.length > 64) return null;
    const [row] = await this.sessionByTokenHash(sha256(token));
    if (!row || row.expires_at <= this.deps.now().toISOString()) return null;
    return {
      sessionId: row.id,
      userId: row.user_id,
      csrfToken: row.csrf_token,
      expiresAt: row.expires_at,
      mustChangePassword: row.must_change_password === 1,
    };
  }

  async logout(ctx: RequestCtx, sessionId: string): Promise<void> {
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      await trx.deleteFrom("sessions").where("id", "=", sessionId).execute();
      await writeAudit(trx, ctx, this.deps.now(), { orgId: null, action: "auth.logout" });
    });
  }

  /** Changes the caller's password; other sessions of the user end. */
  async changePassword(ctx: RequestCtx, userId: string, current: string, next: string): Promise<void> {
    const { db, now } = this.deps;
    const user = await db.kysely
      .selectFrom("users")
      .select(["email", "password_hash"])
      .where("id", "=", userId)
      .executeTakeFirstOrThrow();
    // A session in other hands must not be a way to guess the password: login's count.
    const ip = ctx.ip ?? "unknown";
    await this.guard.attempt(user.email, ip);
    if (!(await verifyPassword(user.password_hash, current))) {
      await writeAudit(db.kysely, ctx, now(), {
        orgId: null,
        action: "user.password.change",
        result: "denied",
        target: { type: "user", id: userId },
      });
      throw invalidField("currentPassword", "current password is wrong", "wrong_password");
    }
    await this.guard.succeed(user.email, ip);
    if (next === current) {
      throw invalidField("newPassword", "the new password must differ from the current one", "same_password");
    }
    const hashed = await hashPassword(next);
    const keep = ctx.actor.kind === "user" && ctx.actor.credential.type === "session" ? ctx.actor.credential.id : "";
    await db.kysely.transaction().execute(async (trx) => {
      await trx
        .updateTable("users")
        .set({ password_hash: hashed, must_change_password: 0, updated_at: now().toISOString() })
        .where("id", "=", userId)
        .execute();
      await trx.deleteFrom("sessions").where("user_id", "=", userId).where("id", "!=", keep).execute();
      await writeAudit(trx, ctx, now(), {
        orgId: null,
        action: "user.password.change",
        target: { type: "user", id: userId },
      });
    });
  }
}
