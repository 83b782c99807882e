import Type from "typebox";
import type { Services } from "../../services/index.js";
import type { App } from "../app.js";
import { Id, Name, PageOf, PageQuery, errorResponses, ref } from "../schemas/common.js";
import { orgSettingsSchema } from "../../domain/org-settings.js";
import { OrgSchema } from "../schemas/identity.js";
import { accessTo, etag, ifMatchVersion, noContent } from "./helpers.js";

const OrgParams = Type.Object({ orgId: Id("org") });

export function orgRoutes(app: App, s: Services) {
  app.get(
    "/v1/orgs",
    {
      schema: {
        tags: ["orgs"],
        summary: "Organizations I belong to, oldest first",
        querystring: PageQuery,
        response: { 200: PageOf(ref(OrgSchema)), ...errorResponses(400, 401) },
      },
    },
    async (req) => s.orgs.listMine(req.ctx, req.query),
  );

  app.post(
    "/v1/orgs",
    {
      schema: {
        tags: ["orgs"],
        summary: "Create an organization (you become its owner)",
        body: Type.Object({ name: Name }, { additionalProperties: false }),
        response: { 201: ref(OrgSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const org = await s.orgs.create(req.ctx, req.body.name);
      return reply.status(201).header("etag", etag(org.version)).send(org);
    },
  );

  app.get(
    "/v1/orgs/:orgId",
    {
      schema: {
        tags: ["orgs"],
        summary: "Read an organization and its key policy",
        params: OrgParams,
        response: { 200: ref(OrgSchema), ...errorResponses(401, 403, 404) },
      },
    },
    async (req, reply) => {
      const access = await accessTo(s, req, req.params.orgId);
      access.require("iam:orgs:read");
      reply.header("etag", etag(access.org.version));
      return access.org;
    },
  );

  app.patch(
    "/v1/orgs/:orgId",
    {
      config: {
        audit: {
          action: "org.update",
          target: (req) => ({ type: "org", id: (req.params as { orgId: string }).orgId }),
        },
      },
      schema: {
        tags: ["orgs"],
        summary: "Rename an organization or change its key policy (settings are merged)",
        params: OrgParams,
        body: Type.Object(
          {
            name: Type.Optional(Name),
            settings: Type.Optional(Type.Partial(orgSettingsSchema, { additionalProperties: false })),
          },
          { additionalProperties: false },
        ),
        response: { 200: ref(OrgSchema), ...errorResponses(400, 401, 403, 404, 412) },
      },
    },
    async (req, reply) => {
      const access = await accessTo(s, req, req.params.orgId);
      const org = await s.orgs.update(req.ctx, access, req.body, ifMatchVersion(req));
      reply.header("etag", etag(org.version));
      return org;
    },
  );

  app.delete(
    "/v1/orgs/:orgId",
    {
      config: {
        audit: {
          action: "org.delete",
          target: (req) => ({ type: "org", id: (req.params as { orgId: string }).orgId }),
        },
      },
      schema: {
        tags: ["orgs"],
        summary: "Delete an organization and everything in it",
        params: OrgParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const access = await accessTo(s, req, req.params.orgId);
      await s.orgs.delete(req.ctx, access);
      return noContent(reply);
    },
  );
}
