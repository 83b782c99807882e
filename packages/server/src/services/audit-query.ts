import { invalidField } from "../domain/errors.js";
import { type Page, type PageRequest, paginate } from "../store/pagination.js";
import { queryInstant } from "../domain/instants.js";
import type { AuditEventsTable } from "../store/schema.js";
import type { OrgAccess } from "./access.js";
import type { Deps } from "./deps.js";

export interface AuditEventView {
  id: string;
  orgId: string | null;
  actor: { type: string; id: string | null; credential: string | null; key: string | null };
  action: string;
  target: { type: string; id: string } | null;
  result: "success" | "denied" | "failure";
  details: Record<string, unknown> | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  createdAt: string;
}

export interface AuditFilter {
  /** Actor principal id, the credential (session, key or token id) it used, or the key behind it. */
  actor?: string;
  /** Exact action, or a prefix ending in `*` (`api_key.*`). */
  action?: string;
  /** Target id. */
  target?: string;
  targetType?: string;
  result?: "success" | "denied" | "failure";
  /** Inclusive lower bound, ISO instant. */
  from?: string;
  /** Exclusive upper bound, ISO instant. */
  to?: string;
}

const toView = (r: AuditEventsTable): AuditEventView => ({
  id: r.id,
  orgId: r.org_id,
  actor: { type: r.actor_type, id: r.actor_id, credential: r.actor_credential, key: r.actor_key_id },
  action: r.action,
  target: r.target_type && r.target_id ? { type: r.target_type, id: r.target_id } : null,
  result: r.result,
  details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
  ip: r.ip,
  userAgent: r.user_agent,
  requestId: r.request_id,
  createdAt: r.created_at,
});

const instant = (field: string, raw: string) => new Date(queryInstant(field, raw, true)).toISOString();

/** The org's audit log, newest first, for holders of iam:audit:read. */
export class AuditQuery {
  constructor(private deps: Deps) {}

  async list(access: OrgAccess, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEventView>> {
    access.require("iam:audit:read");
    let q = this.deps.db.kysely.selectFrom("audit_events").selectAll().where("org_id", "=", access.org.id);
    if (filter.actor) {
      const a = filter.actor;
      q = q.where((eb) => eb.or([eb("actor_id", "=", a), eb("actor_credential", "=", a), eb("actor_key_id", "=", a)]));
    }
    if (filter.action) {
      if (filter.action.endsWith("*")) {
        const prefix = filter.action.slice(0, -1);
        if (!/^[a-z_.]*$/.test(prefix)) throw invalidField("action", "action prefix may hold only a-z, _ and .");
        q = q.where("action", "like", `${prefix}%`);
      } else q = q.where("action", "=", filter.action);
    }
    if (filter.target) q = q.where("target_id", "=", filter.target);
    if (filter.targetType) q = q.where("target_type", "=", filter.targetType);
    if (filter.result) q = q.where("result", "=", filter.result);
    if (filter.from) q = q.where("created_at", ">=", instant("from", filter.from));
    if (filter.to) q = q.where("created_at", "<", instant("to", filter.to));
    const res = await paginate(q, page);
    return { items: res.items.map(toView), nextCursor: res.nextCursor };
  }
}
