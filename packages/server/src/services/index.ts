import { AuditQuery } from "./audit-query.js";
import { AuthService } from "./auth-service.js";
import type { Deps } from "./deps.js";
import { InvitationService } from "./invitation-service.js";
import { KeyService } from "./key-service.js";
import { MemberService } from "./member-service.js";
import { OrgService } from "./org-service.js";
import { ProjectService } from "./project-service.js";
import { RoleService } from "./role-service.js";
import { ServiceAccountService } from "./service-account-service.js";
import { buildVerification } from "./verify/index.js";

/** Every service, built once from the same deps. */
export function buildServices(deps: Deps) {
  return {
    deps,
    auth: new AuthService(deps),
    orgs: new OrgService(deps),
    projects: new ProjectService(deps),
    serviceAccounts: new ServiceAccountService(deps),
    roles: new RoleService(deps),
    members: new MemberService(deps),
    invitations: new InvitationService(deps),
    apiKeys: new KeyService(deps),
    audit: new AuditQuery(deps),
    /** The verification hot path: cache, invalidation, rate limits, usage, tokens. */
    verify: buildVerification(deps),
  };
}
export type Services = ReturnType<typeof buildServices>;
