import Type from "typebox";
import type { Services } from "../../services/index.js";
import type { App } from "../app.js";
import { AuditEventSchema, AuditQuerySchema } from "../schemas/api-keys.js";
import { Id, PageOf, errorResponses, ref } from "../schemas/common.js";
import { accessTo } from "./helpers.js";

export function auditEventRoutes(app: App, s: Services) {
  app.get(
    "/v1/orgs/:orgId/audit-events",
    {
      schema: {
        tags: ["audit"],
        summary: "The org's audit log, newest first (needs iam:audit:read)",
        params: Type.Object({ orgId: Id("org") }),
        querystring: AuditQuerySchema,
        response: { 200: PageOf(ref(AuditEventSchema)), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const access = await accessTo(s, req, req.params.orgId);
      const { limit, cursor, ...filter } = req.query;
      return s.audit.list(access, filter, { limit, cursor });
    },
  );
}
