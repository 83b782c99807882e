import Type from "typebox";
import type { Services } from "../../services/index.js";
import type { App } from "../app.js";
import { Description, Id, Name, PageOf, PageQuery, errorResponses, ref } from "../schemas/common.js";
import { ProjectSchema } from "../schemas/identity.js";
import { accessTo, noContent } from "./helpers.js";

const OrgParams = Type.Object({ orgId: Id("org") });
const ProjectParams = Type.Object({ projectId: Id("prj") });

export function projectRoutes(app: App, s: Services) {
  const byId = async (req: Parameters<typeof accessTo>[1], projectId: string) =>
    accessTo(s, req, await s.projects.orgOf(projectId));

  app.get(
    "/v1/orgs/:orgId/projects",
    {
      schema: {
        tags: ["projects"],
        summary: "List projects",
        params: OrgParams,
        querystring: PageQuery,
        response: { 200: PageOf(ref(ProjectSchema)), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => s.projects.list(await accessTo(s, req, req.params.orgId), req.query),
  );

  app.post(
    "/v1/orgs/:orgId/projects",
    {
      config: { audit: { action: "project.create" } },
      schema: {
        tags: ["projects"],
        summary: "Create a project",
        params: OrgParams,
        body: Type.Object({ name: Name, description: Type.Optional(Description) }, { additionalProperties: false }),
        response: { 201: ref(ProjectSchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const access = await accessTo(s, req, req.params.orgId);
      return reply.status(201).send(await s.projects.create(req.ctx, access, req.body));
    },
  );

  app.get(
    "/v1/projects/:projectId",
    {
      schema: {
        tags: ["projects"],
        summary: "Read a project",
        params: ProjectParams,
        response: { 200: ref(ProjectSchema), ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => s.projects.get(await byId(req, req.params.projectId), req.params.projectId),
  );

  app.patch(
    "/v1/projects/:projectId",
    {
      config: {
        audit: {
          action: "project.update",
          target: (req) => ({ type: "project", id: (req.params as { projectId: string }).projectId }),
        },
      },
      schema: {
        tags: ["projects"],
        summary: "Rename or describe a project",
        params: ProjectParams,
        body: Type.Object(
          { name: Type.Optional(Name), description: Type.Optional(Description) },
          { additionalProperties: false },
        ),
        response: { 200: ref(ProjectSchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => s.projects.update(req.ctx, await byId(req, req.params.projectId), req.params.projectId, req.body),
  );

  app.delete(
    "/v1/projects/:projectId",
    {
      config: {
        audit: {
          action: "project.delete",
          target: (req) => ({ type: "project", id: (req.params as { projectId: string }).projectId }),
        },
      },
      schema: {
        tags: ["projects"],
        summary: "Delete a project and its keys",
        params: ProjectParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (req, reply) => {
      await s.projects.delete(req.ctx, await byId(req, req.params.projectId), req.params.projectId);
      return noContent(reply);
    },
  );
}
