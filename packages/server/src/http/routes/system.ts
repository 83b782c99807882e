import { sql } from "kysely";
import Type from "typebox";
import { isReadPermission } from "../../domain/permissions/catalog.js";
import type { Services } from "../../services/index.js";
import type { App } from "../app.js";
import { ref } from "../schemas/common.js";
import { PermissionSchema } from "../schemas/identity.js";
import { sendProblem } from "../problem.js";

export function systemRoutes(app: App, s: Services) {
  app.get(
    "/v1/permissions",
    {
      schema: {
        tags: ["permissions"],
        summary: "The permission catalog: Keyward's iam:* and the operator's",
        security: [],
        response: { 200: Type.Object({ items: Type.Array(ref(PermissionSchema)) }) },
      },
    },
    async () => ({
      items: s.deps.catalog.map((p) => ({
        name: p.name,
        description: p.description,
        platform: !!p.platform,
        readOnly: isReadPermission(p.name),
      })),
    }),
  );

  app.get(
    "/healthz",
    {
      schema: {
        tags: ["system"],
        summary: "Liveness",
        security: [],
        response: { 200: Type.Object({ status: Type.String() }) },
      },
    },
    async () => ({ status: "ok" }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        tags: ["system"],
        summary: "Readiness: the database answers",
        security: [],
        response: { 200: Type.Object({ status: Type.String(), database: Type.String() }) },
      },
    },
    async (req, reply) => {
      try {
        await sql`select 1`.execute(s.deps.db.kysely);
        return { status: "ok", database: s.deps.db.dialect };
      } catch (err) {
        req.log.warn({ err }, "readiness check failed");
        return sendProblem(reply, "UNAVAILABLE", "Database unreachable", req.id);
      }
    },
  );
}
