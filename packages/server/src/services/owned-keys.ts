import type { Kysely } from "kysely";
import type { Database } from "../store/schema.js";
import { writeAudits } from "./audit.js";
import type { RequestCtx } from "./deps.js";

/**
 * Deletes the keys a service account or project owns, as part of deleting it (in its
 * transaction), each with its own `api_key.delete` event: a key's trail in the audit log
 * shows its end, not only its creation.
 */
export async function deleteOwnedKeys(
  trx: Kysely<Database>,
  ctx: RequestCtx,
  now: Date,
  orgId: string,
  owner: { type: "service_account" | "project"; id: string },
): Promise<void> {
  const keys = await trx
    .selectFrom("api_keys")
    .select(["id", "name"])
    .where("owner_type", "=", owner.type)
    .where("owner_id", "=", owner.id)
    .execute();
  if (keys.length === 0) return;
  await trx.deleteFrom("api_keys").where("owner_type", "=", owner.type).where("owner_id", "=", owner.id).execute();
  const reason = owner.type === "project" ? `project ${owner.id} deleted` : `service account ${owner.id} deleted`;
  await writeAudits(
    trx,
    ctx,
    now,
    keys.map((k) => ({
      orgId,
      action: "api_key.delete",
      target: { type: "api_key", id: k.id },
      details: { reason, before: { name: k.name } },
    })),
  );
}

/**
 * Disables the keys a member leaving the org (or removed from it) owns there, as an
 * administrator's disable (each with its `api_key.disable` event): they stop working at once,
 * and do not come back if the same person is invited again; only `iam:apikeys:manage`
 * enables one again.
 */
export async function disableLeaversKeys(
  trx: Kysely<Database>,
  ctx: RequestCtx,
  now: Date,
  orgId: string,
  userId: string,
): Promise<void> {
  const keys = await trx
    .selectFrom("api_keys")
    .select(["id", "status"])
    .where("org_id", "=", orgId)
    .where("owner_type", "=", "user")
    .where("owner_id", "=", userId)
    .execute();
  if (keys.length === 0) return;
  await trx
    .updateTable("api_keys")
    .set((eb) => ({
      status: "disabled",
      disabled_by_manager: 1,
      version: eb("version", "+", 1),
      updated_at: now.toISOString(),
    }))
    .where("org_id", "=", orgId)
    .where("owner_type", "=", "user")
    .where("owner_id", "=", userId)
    .execute();
  await writeAudits(
    trx,
    ctx,
    now,
    keys.map((k) => ({
      orgId,
      action: "api_key.disable",
      target: { type: "api_key", id: k.id },
      details: {
        reason: `owner ${userId} left the organization`,
        before: { status: k.status },
        after: { status: "disabled" },
      },
    })),
  );
}
