import Type from "typebox";
import { AppError } from "../../domain/errors.js";
import { requireSignedIn } from "../../services/access.js";
import type { Services } from "../../services/index.js";
import type { App } from "../app.js";
import { CSRF_COOKIE, SESSION_COOKIE } from "../authenticate.js";
import { errorResponses, ref } from "../schemas/common.js";
import { UserSchema } from "../schemas/identity.js";
import { clearCookies, setCookies } from "../cookies.js";
import { noContent } from "./helpers.js";

const Password = Type.String({ minLength: 1, maxLength: 256 });
const NewPassword = Type.String({ minLength: 12, maxLength: 256, description: "At least 12 characters" });

const MeSchema = Type.Object({
  principal: Type.Object({ type: Type.String({ examples: ["user"] }), id: Type.String() }),
  credential: Type.Object({ type: Type.String({ examples: ["session", "api_key", "token"] }), id: Type.String() }),
  user: Type.Optional(ref(UserSchema)),
  orgId: Type.Optional(Type.String({ description: "For keys and tokens: the org they belong to" })),
});

export function authRoutes(app: App, s: Services) {
  app.post(
    "/v1/auth/login",
    {
      schema: {
        tags: ["auth"],
        summary: "Sign in: sets the session cookie and returns a bearer session token for scripts",
        security: [],
        body: Type.Object(
          { email: Type.String({ minLength: 3, maxLength: 320 }), password: Password },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            token: Type.String({ description: "Bearer session token (sess_…)" }),
            csrfToken: Type.String({ description: "Send as X-CSRF-Token with cookie sessions" }),
            expiresAt: Type.String(),
            user: ref(UserSchema),
          }),
          ...errorResponses(400, 401, 429),
        },
      },
    },
    async (req, reply) => {
      const { token, session } = await s.auth.login(req.ctx, req.body.email, req.body.password);
      const secure = s.deps.config.publicUrl.startsWith("https://");
      const maxAge = s.deps.config.sessionTtlSeconds;
      setCookies(reply, [
        { name: SESSION_COOKIE, value: token, options: { httpOnly: true, sameSite: "lax", path: "/", secure, maxAge } },
        {
          name: CSRF_COOKIE,
          value: session.csrfToken,
          options: { httpOnly: false, sameSite: "lax", path: "/", secure, maxAge },
        },
      ]);
      const user = await s.auth.getUser(session.userId);
      // The answer carries the session token: no cache keeps it.
      reply.header("cache-control", "no-store");
      return { token, csrfToken: session.csrfToken, expiresAt: session.expiresAt, user };
    },
  );

  app.post(
    "/v1/auth/logout",
    {
      schema: {
        tags: ["auth"],
        summary: "End the current session",
        response: { 204: Type.Null(), ...errorResponses(401) },
      },
    },
    async (req, reply) => {
      const { actor } = req.ctx;
      if (actor.kind !== "user" || actor.credential.type !== "session") {
        throw new AppError("UNAUTHENTICATED", "No session to end");
      }
      await s.auth.logout(req.ctx, actor.credential.id);
      clearCookies(reply, [SESSION_COOKIE, CSRF_COOKIE], { path: "/" });
      return noContent(reply);
    },
  );

  app.get(
    "/v1/me",
    {
      schema: {
        tags: ["auth"],
        summary: "Who am I: the user, key or token behind this request",
        response: { 200: MeSchema, ...errorResponses(401) },
      },
    },
    async (req) => {
      const { actor } = req.ctx;
      requireSignedIn(actor);
      return {
        principal: { type: actor.kind, id: actor.id },
        credential: actor.credential,
        user: actor.kind === "user" ? await s.auth.getUser(actor.id) : undefined,
        orgId: actor.limit?.orgId,
      };
    },
  );

  app.post(
    "/v1/me/password",
    {
      schema: {
        tags: ["auth"],
        summary: "Change your password (ends your other sessions)",
        body: Type.Object({ currentPassword: Password, newPassword: NewPassword }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const { actor } = req.ctx;
      requireSignedIn(actor);
      if (actor.kind !== "user" || actor.credential.type !== "session") {
        throw new AppError("FORBIDDEN", "Change your password from a signed-in session");
      }
      await s.auth.changePassword(req.ctx, actor.id, req.body.currentPassword, req.body.newPassword);
      return noContent(reply);
    },
  );
}
