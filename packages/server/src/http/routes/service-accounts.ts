import Type from "typebox";
import type { Services } from "../../services/index.js";
import type { App } from "../app.js";
import { Description, Id, Name, PageOf, PageQuery, RoleBindings, errorResponses, ref } from "../schemas/common.js";
import { ServiceAccountSchema } from "../schemas/identity.js";
import { accessTo, noContent } from "./helpers.js";

const OrgParams = Type.Object({ orgId: Id("org") });
const SaParams = Type.Object({ serviceAccountId: Id("sa") });

export function serviceAccountRoutes(app: App, s: Services) {
  const byId = async (req: Parameters<typeof accessTo>[1], id: string) =>
    accessTo(s, req, await s.serviceAccounts.orgOf(id));

  app.get(
    "/v1/orgs/:orgId/service-accounts",
    {
      schema: {
        tags: ["service-accounts"],
        summary: "List service accounts",
        params: OrgParams,
        querystring: PageQuery,
        response: { 200: PageOf(ref(ServiceAccountSchema)), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => s.serviceAccounts.list(await accessTo(s, req, req.params.orgId), req.query),
  );

  app.post(
    "/v1/orgs/:orgId/service-accounts",
    {
      config: { audit: { action: "service_account.create" } },
      schema: {
        tags: ["service-accounts"],
        summary: "Create a service account, optionally with role bindings",
        params: OrgParams,
        body: Type.Object(
          { name: Name, description: Type.Optional(Description), roles: Type.Optional(RoleBindings) },
          { additionalProperties: false },
        ),
        response: { 201: ref(ServiceAccountSchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const access = await accessTo(s, req, req.params.orgId);
      return reply.status(201).send(await s.serviceAccounts.create(req.ctx, access, req.body));
    },
  );

  app.get(
    "/v1/service-accounts/:serviceAccountId",
    {
      schema: {
        tags: ["service-accounts"],
        summary: "Read a service account",
        params: SaParams,
        response: { 200: ref(ServiceAccountSchema), ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => s.serviceAccounts.get(await byId(req, req.params.serviceAccountId), req.params.serviceAccountId),
  );

  app.patch(
    "/v1/service-accounts/:serviceAccountId",
    {
      config: {
        audit: {
          action: "service_account.update",
          target: (req) => ({
            type: "service_account",
            id: (req.params as { serviceAccountId: string }).serviceAccountId,
          }),
        },
      },
      schema: {
        tags: ["service-accounts"],
        summary: "Rename a service account or replace its role bindings",
        params: SaParams,
        body: Type.Object(
          { name: Type.Optional(Name), description: Type.Optional(Description), roles: Type.Optional(RoleBindings) },
          { additionalProperties: false },
        ),
        response: { 200: ref(ServiceAccountSchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) =>
      s.serviceAccounts.update(
        req.ctx,
        await byId(req, req.params.serviceAccountId),
        req.params.serviceAccountId,
        req.body,
      ),
  );

  app.delete(
    "/v1/service-accounts/:serviceAccountId",
    {
      config: {
        audit: {
          action: "service_account.delete",
          target: (req) => ({
            type: "service_account",
            id: (req.params as { serviceAccountId: string }).serviceAccountId,
          }),
        },
      },
      schema: {
        tags: ["service-accounts"],
        summary: "Delete a service account and its keys",
        params: SaParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (req, reply) => {
      await s.serviceAccounts.delete(
        req.ctx,
        await byId(req, req.params.serviceAccountId),
        req.params.serviceAccountId,
      );
      return noContent(reply);
    },
  );
}
