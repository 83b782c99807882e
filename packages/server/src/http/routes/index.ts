import type { Services } from "../../services/index.js";
import type { App } from "../app.js";
import { RoleBindingSchema } from "../schemas/common.js";
import { ApiKeySchema, AuditEventSchema } from "../schemas/api-keys.js";
import * as identity from "../schemas/identity.js";
import { apiKeyRoutes } from "./api-keys.js";
import { auditEventRoutes } from "./audit-events.js";
import { authRoutes } from "./auth.js";
import { memberRoutes } from "./members.js";
import { orgRoutes } from "./orgs.js";
import { projectRoutes } from "./projects.js";
import { roleRoutes } from "./roles.js";
import { serviceAccountRoutes } from "./service-accounts.js";
import { systemRoutes } from "./system.js";
import { tokenRoutes } from "./token.js";
import { usageRoutes } from "./usage.js";
import { verifyRoutes } from "./verify.js";

/** Shared schemas, named in OpenAPI by their `$id`. */
export const sharedSchemas = [RoleBindingSchema, ...Object.values(identity), ApiKeySchema, AuditEventSchema];

export async function registerRoutes(app: App, s: Services) {
  for (const schema of sharedSchemas) app.addSchema(schema);
  systemRoutes(app, s);
  authRoutes(app, s);
  orgRoutes(app, s);
  projectRoutes(app, s);
  serviceAccountRoutes(app, s);
  roleRoutes(app, s);
  memberRoutes(app, s);
  apiKeyRoutes(app, s);
  auditEventRoutes(app, s);
  verifyRoutes(app, s);
  usageRoutes(app, s);
  await tokenRoutes(app, s);
}
