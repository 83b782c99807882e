/** Flattens an audit event for the table, tolerating nested or flat field names. */

export interface AuditRow {
  id: string;
  at: string;
  actor: string;
  /** The API key the actor acted through (directly, or by a token exchanged from it), or "". */
  via: string;
  action: string;
  target: string;
  result: string;
  ip: string;
}

type Raw = Record<string, unknown>;
const str = (v: unknown) => (v === null || v === undefined ? "" : String(v));

export function auditRow(e: Raw): AuditRow {
  const actor = (e.actor ?? {}) as Raw;
  const target = (e.target ?? {}) as Raw;
  const actorText = str(actor.id ?? e.actorId) || str(actor.type ?? e.actorType);
  const targetType = str(target.type ?? e.targetType);
  const targetId = str(target.id ?? e.targetId);
  return {
    id: str(e.id),
    at: str(e.createdAt ?? e.at ?? e.time),
    actor: actorText,
    via: str(actor.key),
    action: str(e.action),
    target: [targetType, targetId].filter(Boolean).join(" "),
    result: str(e.result),
    ip: str(e.ip),
  };
}

export interface AuditFilters {
  actor: string;
  action: string;
  target: string;
  from: string | null;
  to: string | null;
}

/** Query parameters for GET …/audit-events; empty filters are left out. */
export function auditQuery(f: AuditFilters): Record<string, string> {
  const q: Record<string, string> = {};
  if (f.actor.trim()) q.actor = f.actor.trim();
  if (f.action.trim()) q.action = f.action.trim();
  if (f.target.trim()) q.target = f.target.trim();
  if (f.from) q.from = new Date(`${f.from}T00:00:00`).toISOString();
  if (f.to) q.to = new Date(`${f.to}T23:59:59`).toISOString();
  return q;
}
