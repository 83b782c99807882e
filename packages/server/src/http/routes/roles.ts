import Type from "typebox";
import { PERMISSION_PATTERN } from "../../domain/permissions/match.js";
import { AppError } from "../../domain/errors.js";
import { requireSignedIn } from "../../services/access.js";
import type { Actor } from "../../services/deps.js";
import type { Services } from "../../services/index.js";
import type { App } from "../app.js";
import { Description, Id, PageOf, PageQuery, errorResponses, ref } from "../schemas/common.js";
import { RoleSchema } from "../schemas/identity.js";
import { accessTo, noContent } from "./helpers.js";

const OrgParams = Type.Object({ orgId: Id("org") });
const RoleParams = Type.Object({ roleId: Type.String({ maxLength: 48, pattern: "^role_[0-9A-Za-z]{1,40}$" }) });
/** Starts and ends with a letter, digit or `_.-` (no trailing space to pass for another role's name). */
const RoleName = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: "^[A-Za-z0-9]([A-Za-z0-9 _.-]*[A-Za-z0-9_.-])?$",
});
const Permissions = Type.Array(
  Type.String({ pattern: PERMISSION_PATTERN.source, maxLength: 130, examples: ["compute:read"] }),
  {
    minItems: 1,
    maxItems: 500,
  },
);

function builtinIsFixed(actor: Actor): never {
  requireSignedIn(actor);
  throw new AppError("FORBIDDEN", "Built-in roles cannot be changed or deleted");
}

export function roleRoutes(app: App, s: Services) {
  const customRole = async (req: Parameters<typeof accessTo>[1], roleId: string) => {
    const orgId = await s.roles.orgOf(roleId);
    return orgId ? accessTo(s, req, orgId) : null;
  };

  app.get(
    "/v1/orgs/:orgId/roles",
    {
      schema: {
        tags: ["roles"],
        summary: "List built-in and custom roles",
        description: "The built-in roles lead the first page, outside `limit`; custom roles follow, oldest first.",
        params: OrgParams,
        querystring: PageQuery,
        response: { 200: PageOf(ref(RoleSchema)), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => s.roles.list(await accessTo(s, req, req.params.orgId), req.query),
  );

  app.post(
    "/v1/orgs/:orgId/roles",
    {
      config: { audit: { action: "role.create" } },
      schema: {
        tags: ["roles"],
        summary: "Create a custom role (only with permissions you hold)",
        params: OrgParams,
        body: Type.Object(
          { name: RoleName, description: Type.Optional(Description), permissions: Permissions },
          { additionalProperties: false },
        ),
        response: { 201: ref(RoleSchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) =>
      reply.status(201).send(await s.roles.create(req.ctx, await accessTo(s, req, req.params.orgId), req.body)),
  );

  app.get(
    "/v1/roles/:roleId",
    {
      schema: {
        tags: ["roles"],
        summary: "Read a role",
        params: RoleParams,
        response: { 200: ref(RoleSchema), ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => {
      const access = await customRole(req, req.params.roleId);
      if (!access) {
        requireSignedIn(req.ctx.actor);
        return s.roles.getBuiltin(req.params.roleId);
      }
      return s.roles.get(access, req.params.roleId);
    },
  );

  app.patch(
    "/v1/roles/:roleId",
    {
      config: {
        audit: {
          action: "role.update",
          target: (req) => ({ type: "role", id: (req.params as { roleId: string }).roleId }),
        },
      },
      schema: {
        tags: ["roles"],
        summary: "Change a custom role (built-in roles cannot change)",
        params: RoleParams,
        body: Type.Object(
          {
            name: Type.Optional(RoleName),
            description: Type.Optional(Description),
            permissions: Type.Optional(Permissions),
          },
          { additionalProperties: false },
        ),
        response: { 200: ref(RoleSchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const access = await customRole(req, req.params.roleId);
      if (!access) return builtinIsFixed(req.ctx.actor);
      return s.roles.update(req.ctx, access, req.params.roleId, req.body);
    },
  );

  app.delete(
    "/v1/roles/:roleId",
    {
      config: {
        audit: {
          action: "role.delete",
          target: (req) => ({ type: "role", id: (req.params as { roleId: string }).roleId }),
        },
      },
      schema: {
        tags: ["roles"],
        summary: "Delete a custom role that is not bound",
        params: RoleParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const access = await customRole(req, req.params.roleId);
      if (!access) return builtinIsFixed(req.ctx.actor);
      await s.roles.delete(req.ctx, access, req.params.roleId);
      return noContent(reply);
    },
  );
}
