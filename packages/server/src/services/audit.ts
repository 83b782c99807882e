import type { Kysely } from "kysely";
import { newId } from "../domain/ids.js";
import type { Database } from "../store/schema.js";
import type { RequestCtx } from "./deps.js";

export interface AuditInput {
  orgId: string | null;
  action: string;
  target?: { type: string; id: string };
  result?: "success" | "denied" | "failure";
  /** Non-secret fields only: before/after of what changed, or a reason. */
  details?: Record<string, unknown>;
}

/** Writes one audit event; call it inside the transaction that makes the change. */
export async function writeAudit(db: Kysely<Database>, ctx: RequestCtx, now: Date, input: AuditInput): Promise<void> {
  const actor = ctx.actor;
  await db
    .insertInto("audit_events")
    .values({
      id: newId("evt"),
      org_id: input.orgId,
      actor_type: actor.kind,
      actor_id: actor.kind === "anonymous" ? null : actor.id,
      actor_credential: actor.kind === "anonymous" ? null : actor.credential.id,
      action: input.action,
      target_type: input.target?.type ?? null,
      target_id: input.target?.id ?? null,
      result: input.result ?? "success",
      details: input.details ? JSON.stringify(input.details) : null,
      ip: ctx.ip,
      user_agent: ctx.userAgent?.slice(0, 500) ?? null,
      request_id: ctx.requestId,
      created_at: now.toISOString(),
    })
    .execute();
}

/** Only the fields whose values differ, as {before, after}. */
export function diff<T extends Record<string, unknown>>(
  before: T,
  after: Partial<T>,
): { before: Partial<T>; after: Partial<T> } {
  const b: Partial<T> = {};
  const a: Partial<T> = {};
  for (const k of Object.keys(after) as (keyof T)[]) {
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) {
      b[k] = before[k];
      a[k] = after[k];
    }
  }
  return { before: b, after: a };
}
