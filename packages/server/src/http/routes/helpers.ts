import type { FastifyReply, FastifyRequest } from "fastify";
import { AppError } from "../../domain/errors.js";
import { type OrgAccess, loadAccess } from "../../services/access.js";
import type { Services } from "../../services/index.js";

/**
 * The caller's access to an org (404 when it has none). Kept on the request: a refusal of a
 * change the route audits (`config.audit`) is written to that org's log.
 */
export async function accessTo(services: Services, req: FastifyRequest, orgId: string): Promise<OrgAccess> {
  const access = await loadAccess(services.deps, req.ctx.actor, orgId);
  req.orgAccess = access;
  return access;
}

/** Strong ETag from a row version. */
export const etag = (version: number) => `"v${version}"`;

/** The version an `If-Match` header names, or undefined when absent or `*`. 412 when unparseable. */
export function ifMatchVersion(req: FastifyRequest): number | undefined {
  const h = req.headers["if-match"];
  // `*` matches any current version (RFC 9110 §13.1.1): the resource must exist, as it must anyway.
  if (h === undefined || String(h).trim() === "*") return undefined;
  const m = /^(?:W\/)?"v(\d{1,12})"$/.exec(String(h).trim());
  if (!m) throw new AppError("PRECONDITION_FAILED", 'If-Match must be an ETag this API returned, like "v3"');
  return Number(m[1]);
}

export const noContent = (reply: FastifyReply) => reply.status(204).send();
