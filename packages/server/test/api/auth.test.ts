import { afterEach, beforeEach, expect, it } from "vitest";
import { Harness, OWNER_EMAIL, OWNER_PASSWORD, describeEachDialect } from "../harness.js";

describeEachDialect("auth", (dialect) => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.init(dialect);
  });
  afterEach(async () => h.close());

  it("logs in with the bootstrap owner and answers /v1/me", async () => {
    const res = await h.req("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: OWNER_PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.body.token).toMatch(/^sess_[0-9A-Za-z]{32}$/);
    expect(res.body.user.email).toBe(OWNER_EMAIL);
    expect(String(res.headers["set-cookie"])).toContain("HttpOnly");
    const me = await h.req("GET", "/v1/me", { token: res.body.token });
    expect(me.status).toBe(200);
    expect(me.body.principal).toEqual({ type: "user", id: res.body.user.id });
    expect(me.body.credential.type).toBe("session");
  });

  it("gives the same generic answer for a wrong password and an unknown email", async () => {
    const wrong = await h.req("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: "nope" } });
    const unknown = await h.req("POST", "/v1/auth/login", { body: { email: "nobody@example.com", password: "nope" } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body.code).toBe("INVALID_CREDENTIALS");
    expect(unknown.body.detail).toBe(wrong.body.detail);
    expect(wrong.headers["content-type"]).toContain("application/problem+json");
  });

  it("rate-limits repeated failures per account, even for the right password after", async () => {
    for (let i = 0; i < 10; i++) {
      await h.req("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: `bad-${i}` } });
    }
    const res = await h.req("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: OWNER_PASSWORD } });
    expect(res.status).toBe(429);
    expect(res.body.code).toBe("RATE_LIMITED");
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
  });

  it("rate-limits failures per IP across accounts", async () => {
    for (let i = 0; i < 50; i++) {
      await h.req("POST", "/v1/auth/login", {
        body: { email: `u${i}@example.com`, password: "x" },
        ip: "198.51.100.7",
      });
    }
    const res = await h.req("POST", "/v1/auth/login", {
      body: { email: "other@example.com", password: "x" },
      ip: "198.51.100.7",
    });
    expect(res.status).toBe(429);
    const elsewhere = await h.req("POST", "/v1/auth/login", {
      body: { email: OWNER_EMAIL, password: OWNER_PASSWORD },
      ip: "198.51.100.8",
    });
    expect(elsewhere.status).toBe(200);
  });

  it("checks at most 10 passwords per account when the guesses arrive all at once", async () => {
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        h.req("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: `guess-${i}` } }),
      ),
    );
    expect(answers.filter((r) => r.status === 401)).toHaveLength(10);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(20);
  });

  it("counts a successful login back for its address, but not for other accounts' failures", async () => {
    for (let i = 0; i < 49; i++)
      await h.req("POST", "/v1/auth/login", {
        body: { email: `u${i}@example.com`, password: "x" },
        ip: "198.51.100.9",
      });
    // The 50th attempt from the address is right: it counts, and gives its point back.
    const ok = await h.req("POST", "/v1/auth/login", {
      body: { email: OWNER_EMAIL, password: OWNER_PASSWORD },
      ip: "198.51.100.9",
    });
    expect(ok.status).toBe(200);
    const next = await h.req("POST", "/v1/auth/login", {
      body: { email: "z@example.com", password: "x" },
      ip: "198.51.100.9",
    });
    expect(next.status).toBe(401);
    const limited = await h.req("POST", "/v1/auth/login", {
      body: { email: "y@example.com", password: "x" },
      ip: "198.51.100.9",
    });
    expect(limited.status).toBe(429);
  });

  it("lets a session with a generated or reset password do nothing but change it", async () => {
    await h.kw.db.kysely.updateTable("users").set({ must_change_password: 1 }).execute();
    const token = await h.login();
    const me = await h.req("GET", "/v1/me", { token });
    expect(me.body.user.mustChangePassword).toBe(true);
    // HEAD is GET without a body: a client probing its session is not refused.
    expect((await h.req("HEAD", "/v1/me", { token })).status).toBe(200);
    expect((await h.req("HEAD", "/v1/orgs", { token })).status).toBe(403);
    const key = await h.req("POST", `/v1/orgs/${h.operatorOrgId}/api-keys`, { token, body: { name: "early" } });
    expect(key.status).toBe(403);
    expect(key.body.code).toBe("PASSWORD_CHANGE_REQUIRED");
    expect((await h.req("GET", "/v1/orgs", { token })).body.code).toBe("PASSWORD_CHANGE_REQUIRED");
    // The same password again is no change.
    const same = await h.req("POST", "/v1/me/password", {
      token,
      body: { currentPassword: OWNER_PASSWORD, newPassword: OWNER_PASSWORD },
    });
    expect(same.status).toBe(400);
    expect(same.body.errors[0].path).toBe("newPassword");
    const changed = await h.req("POST", "/v1/me/password", {
      token,
      body: { currentPassword: OWNER_PASSWORD, newPassword: "a-new-password-1" },
    });
    expect(changed.status).toBe(204);
    expect((await h.req("POST", `/v1/orgs/${h.operatorOrgId}/api-keys`, { token, body: { name: "now" } })).status).toBe(
      201,
    );
    // Signing out was allowed all along; here after the change.
    expect((await h.req("POST", "/v1/auth/logout", { token })).status).toBe(204);
  });

  it("throttles and audits wrong current passwords on a password change, as failed logins", async () => {
    const token = await h.login();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await h.req("POST", "/v1/me/password", {
        token,
        body: { currentPassword: `guess-${i}`, newPassword: "a-new-password-1" },
      });
      statuses.push(r.status);
    }
    expect(statuses).toEqual([...Array(10).fill(400), 429, 429]);
    const denied = await h.kw.db.kysely
      .selectFrom("audit_events")
      .select(["action", "result"])
      .where("action", "=", "user.password.change")
      .execute();
    expect(denied).toHaveLength(10);
    expect(denied.every((e) => e.result === "denied")).toBe(true);
    // The account's count is login's too.
    const login = await h.req("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: OWNER_PASSWORD } });
    expect(login.status).toBe(429);
  });

  it("revokes the session on logout", async () => {
    const token = await h.login();
    expect((await h.req("POST", "/v1/auth/logout", { token })).status).toBe(204);
    const me = await h.req("GET", "/v1/me", { token });
    expect(me.status).toBe(401);
    expect(me.body.code).toBe("UNAUTHENTICATED");
  });

  it("expires sessions", async () => {
    const token = await h.login();
    const row = await h.kw.db.kysely.selectFrom("sessions").select("id").executeTakeFirstOrThrow();
    await h.kw.db.kysely
      .updateTable("sessions")
      .set({ expires_at: "2000-01-01T00:00:00.000Z" })
      .where("id", "=", row.id)
      .execute();
    expect((await h.req("GET", "/v1/me", { token })).status).toBe(401);
  });

  it("requires the CSRF header for cookie sessions on writes", async () => {
    const login = await h.req("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: OWNER_PASSWORD } });
    const cookie = `kw_session=${login.body.token}`;
    const read = await h.req("GET", "/v1/orgs", { headers: { cookie } });
    expect(read.status).toBe(200);
    const noCsrf = await h.req("POST", "/v1/orgs", { headers: { cookie }, body: { name: "x" } });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body.code).toBe("CSRF_REQUIRED");
    const ok = await h.req("POST", "/v1/orgs", {
      headers: { cookie, "x-csrf-token": login.body.csrfToken },
      body: { name: "x" },
    });
    expect(ok.status).toBe(201);
  });

  it("changes the password: the old one stops working", async () => {
    const token = await h.login();
    const bad = await h.req("POST", "/v1/me/password", {
      token,
      body: { currentPassword: "wrong", newPassword: "a-new-password-1" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe("currentPassword");
    const short = await h.req("POST", "/v1/me/password", {
      token,
      body: { currentPassword: OWNER_PASSWORD, newPassword: "short" },
    });
    expect(short.status).toBe(400);
    expect(short.body.errors[0].path).toBe("newPassword");
    const ok = await h.req("POST", "/v1/me/password", {
      token,
      body: { currentPassword: OWNER_PASSWORD, newPassword: "a-new-password-1" },
    });
    expect(ok.status).toBe(204);
    expect(
      (await h.req("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: OWNER_PASSWORD } })).status,
    ).toBe(401);
    expect(
      (await h.req("POST", "/v1/auth/login", { body: { email: OWNER_EMAIL, password: "a-new-password-1" } })).status,
    ).toBe(200);
  });

  it("stores only an argon2id hash, never the password or the session token", async () => {
    const token = await h.login();
    const user = await h.kw.db.kysely.selectFrom("users").selectAll().executeTakeFirstOrThrow();
    expect(user.password_hash).toMatch(/^\$argon2id\$/);
    const dump = JSON.stringify(await h.kw.db.kysely.selectFrom("sessions").selectAll().execute());
    expect(dump).not.toContain(token);
    const audit = JSON.stringify(await h.kw.db.kysely.selectFrom("audit_events").selectAll().execute());
    expect(audit).not.toContain(OWNER_PASSWORD);
    expect(audit).not.toContain(token);
  });
});
