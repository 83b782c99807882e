import { AppError } from "../domain/errors.js";
import type { Kysely } from "kysely";
import { randomBytes } from "node:crypto";
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

/** The API key an actor acts through: the key itself, or the key a token was exchanged from. */
function actorKey(actor: RequestCtx["actor"]): string | null {
  if (actor.kind === "anonymous") return null;
  const c = actor.credential;
  return c.type === "api_key" ? c.id : c.type === "token" ? (c.keyId ?? null) : null;
}

let lastMs = 0;
let sameMs = 0;

/**
 * An event id that sorts (as text, in either database's collation: digits and lower-case
 * letters, fixed width) in the order this process wrote its events, even within a millisecond:
 * the audit log lists by (created_at, id), and events of one request often share their time.
 */
export function newEventId(nowMs: number): string {
  // The time (never going back), then a count within its millisecond, each fixed width.
  if (nowMs > lastMs) {
    lastMs = nowMs;
    sameMs = 0;
  } else sameMs++;
  const random = randomBytes(8).readBigUInt64BE().toString(36).padStart(13, "0");
  return `evt_${lastMs.toString(36).padStart(9, "0")}${sameMs.toString(36).padStart(4, "0")}${random.slice(2)}`;
}

function auditRow(ctx: RequestCtx, now: Date, input: AuditInput) {
  const actor = ctx.actor;
  return {
    id: newEventId(now.getTime()),
    org_id: input.orgId,
    actor_type: actor.kind,
    actor_id: actor.kind === "anonymous" ? null : actor.id,
    actor_credential: actor.kind === "anonymous" ? null : actor.credential.id,
    actor_key_id: actorKey(actor),
    action: input.action,
    target_type: input.target?.type ?? null,
    target_id: input.target?.id ?? null,
    result: input.result ?? "success",
    details: input.details ? JSON.stringify(input.details) : null,
    ip: ctx.ip,
    user_agent: ctx.userAgent?.slice(0, 500) ?? null,
    request_id: ctx.requestId,
    created_at: now.toISOString(),
  };
}

/** Writes one audit event; call it inside the transaction that makes the change. */
export async function writeAudit(db: Kysely<Database>, ctx: RequestCtx, now: Date, input: AuditInput): Promise<void> {
  await db
    .insertInto("audit_events")
    .values(auditRow(ctx, now, input))
    .execute();
}

/** Writes several events of one change (in its transaction), in batches any database takes. */
export async function writeAudits(
  db: Kysely<Database>,
  ctx: RequestCtx,
  now: Date,
  inputs: readonly AuditInput[],
): Promise<void> {
  for (let i = 0; i < inputs.length; i += 500) {
    await db
      .insertInto("audit_events")
      .values(inputs.slice(i, i + 500).map((input) => auditRow(ctx, now, input)))
      .execute();
  }
}

/** Kinds of failure that are refusals (audited as denied), not malformed requests. */
const REFUSALS = new Set(["FORBIDDEN", "POLICY_VIOLATION"]);

/**
 * Whether a failure is a refused attempt, audited as denied: a 403 or 422, or an error that says
 * so itself (a key that is not the caller's to see answers 404, yet was an attempt).
 */
export function isRefusal(err: unknown): err is AppError {
  return err instanceof AppError && (REFUSALS.has(err.code) || (err as { refusal?: boolean }).refusal === true);
}

/** A refused change, written in its own transaction (the change's was rolled back). */
export async function writeRefusal(
  db: Kysely<Database>,
  ctx: RequestCtx,
  now: Date,
  input: Omit<AuditInput, "result" | "details">,
  err: { message: string; code: string; errors?: unknown },
): Promise<void> {
  await writeAudit(db, ctx, now, {
    ...input,
    result: "denied",
    details: { reason: err.message, code: err.code, errors: err.errors },
  });
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
