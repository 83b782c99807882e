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
}

/** Login throttling: failures per account and per IP, in memory (per node). */
export class LoginGuard {
  private perAccount = new RateLimiterMemory({ points: 10, duration: 15 * 60 });
  private perIp = new RateLimiterMemory({ points: 50, duration: 15 * 60 });

  async check(email: string, ip: string): Promise<void> {
    const [a, i] = await Promise.all([this.perAccount.get(email), this.perIp.get(ip)]);
    const blocked = [a, i].find((r, n) => r && r.consumedPoints >= (n === 0 ? 10 : 50));
    if (blocked) {
      const retry = Math.ceil(blocked.msBeforeNext / 1000);
      throw new AppError("RATE_LIMITED", "Too many failed logins; try again later", {
        headers: { "retry-after": String(retry) },
      });
    }
  }

  async fail(email: string, ip: string): Promise<void> {
    await Promise.all([this.perAccount.penalty(email, 1), this.perIp.penalty(ip, 1)]);
  }

  async succeed(email: string): Promise<void> {
    await this.perAccount.delete(email);
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
    await this.guard.check(normalized, ip);
    const user = await db.kysely
      .selectFrom("users")
      .select(["id", "password_hash"])
      .where("email", "=", normalized)
      .executeTakeFirst();
    // Verify against a dummy hash for unknown emails so both paths take as long.
    const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), password);
    if (!user || !ok) {
      await this.guard.fail(normalized, ip);
      await writeAudit(db.kysely, ctx, now(), {
        orgId: null,
        action: "auth.login",
        result: "denied",
        target: user ? { type: "user", id: user.id } : undefined,
      });
      throw new AppError("INVALID_CREDENTIALS", "Email or password is wrong");
    }
    await this.guard.succeed(normalized);
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
        .select(["id", "user_id", "csrf_token", "expires_at"])
        .where("token_hash", "=", hash),
  );

  /** The live session a token names, or null (unknown or expired). */
  async resolve(token: string): Promise<SessionInfo | null> {
    if (!token.startsWith(SESSION_TOKEN_PREFIX) || token.length > 64) return null;
    const [row] = await this.sessionByTokenHash(sha256(token));
    if (!row || row.expires_at <= this.deps.now().toISOString()) return null;
    return { sessionId: row.id, userId: row.user_id, csrfToken: row.csrf_token, expiresAt: row.expires_at };
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
      .select("password_hash")
      .where("id", "=", userId)
      .executeTakeFirst();
    if (!user || !(await verifyPassword(user.password_hash, current))) {
      throw invalidField("currentPassword", "current password is wrong", "wrong_password");
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
