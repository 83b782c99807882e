import Type from "typebox";
import type { Services } from "../../services/index.js";
import type { App } from "../app.js";
import { Id, PageOf, PageQuery, RoleBindings, errorResponses, ref } from "../schemas/common.js";
import { InvitationSchema, MemberSchema } from "../schemas/identity.js";
import { accessTo, noContent } from "./helpers.js";

const OrgParams = Type.Object({ orgId: Id("org") });
const MemberParams = Type.Object({ orgId: Id("org"), userId: Id("usr") });

export function memberRoutes(app: App, s: Services) {
  app.get(
    "/v1/orgs/:orgId/members",
    {
      schema: {
        tags: ["members"],
        summary: "List members with their roles and who invited them",
        params: OrgParams,
        querystring: PageQuery,
        response: { 200: PageOf(ref(MemberSchema)), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => s.members.list(await accessTo(s, req, req.params.orgId), req.query),
  );

  app.get(
    "/v1/orgs/:orgId/members/:userId",
    {
      schema: {
        tags: ["members"],
        summary: "Read a member",
        params: MemberParams,
        response: { 200: ref(MemberSchema), ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => s.members.get(await accessTo(s, req, req.params.orgId), req.params.userId),
  );

  app.patch(
    "/v1/orgs/:orgId/members/:userId",
    {
      config: {
        audit: {
          action: "member.update",
          target: (req) => ({ type: "user", id: (req.params as { userId: string }).userId }),
        },
      },
      schema: {
        tags: ["members"],
        summary: "Replace a member's role bindings",
        params: MemberParams,
        body: Type.Object({ roles: RoleBindings }, { additionalProperties: false }),
        response: { 200: ref(MemberSchema), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req) =>
      s.members.setRoles(
        req.ctx,
        await accessTo(s, req, req.params.orgId),
        req.params.userId,
        req.body.roles.map((r) => ({ roleId: r.roleId, projectId: r.projectId ?? null })),
      ),
  );

  app.delete(
    "/v1/orgs/:orgId/members/:userId",
    {
      config: {
        audit: {
          action: "member.remove",
          target: (req) => ({ type: "user", id: (req.params as { userId: string }).userId }),
        },
      },
      schema: {
        tags: ["members"],
        summary: "Remove a member (their keys here stop working)",
        params: MemberParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      await s.members.remove(req.ctx, await accessTo(s, req, req.params.orgId), req.params.userId);
      return noContent(reply);
    },
  );

  app.get(
    "/v1/orgs/:orgId/invitations",
    {
      schema: {
        tags: ["members"],
        summary: "Pending invitations, newest first",
        params: OrgParams,
        querystring: PageQuery,
        response: { 200: PageOf(ref(InvitationSchema)), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => s.invitations.listPending(await accessTo(s, req, req.params.orgId), req.query),
  );

  app.post(
    "/v1/orgs/:orgId/invitations",
    {
      config: { audit: { action: "invitation.create" } },
      schema: {
        tags: ["members"],
        summary: "Invite a user by email; the acceptance token is returned once",
        params: OrgParams,
        body: Type.Object(
          { email: Type.String({ format: "email", maxLength: 320 }), roles: Type.Optional(RoleBindings) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ invitation: ref(InvitationSchema), token: Type.String({ description: "Shown once" }) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (req, reply) => {
      const access = await accessTo(s, req, req.params.orgId);
      const roles = req.body.roles?.map((r) => ({ roleId: r.roleId, projectId: r.projectId ?? null }));
      const created = await s.invitations.create(req.ctx, access, { email: req.body.email, roles });
      // The answer carries the invitation token, shown once: no cache keeps it.
      return reply.status(201).header("cache-control", "no-store").send(created);
    },
  );

  app.delete(
    "/v1/invitations/:invitationId",
    {
      config: {
        audit: {
          action: "invitation.revoke",
          target: (req) => ({ type: "invitation", id: (req.params as { invitationId: string }).invitationId }),
        },
      },
      schema: {
        tags: ["members"],
        summary: "Revoke a pending invitation",
        params: Type.Object({ invitationId: Id("inv") }),
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (req, reply) => {
      const access = await accessTo(s, req, await s.invitations.orgOf(req.params.invitationId));
      await s.invitations.revoke(req.ctx, access, req.params.invitationId);
      return noContent(reply);
    },
  );

  app.post(
    "/v1/invitations/:token/accept",
    {
      schema: {
        tags: ["members"],
        summary: "Accept an invitation: joins an existing user, or creates the user (name and password needed)",
        security: [],
        params: Type.Object({ token: Type.String({ pattern: "^inv_[0-9A-Za-z]{40}$" }) }),
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            password: Type.Optional(Type.String({ minLength: 12, maxLength: 256 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ orgId: Type.String(), userId: Type.String(), created: Type.Boolean() }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
      // The body is optional: an existing (signed-in) user accepts without one.
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
    },
    async (req) => s.invitations.accept(req.ctx, req.params.token, req.body),
  );
}
