import { createHash, randomBytes } from "node:crypto";
import { AppError, invalidField } from "../domain/errors.js";
import { deriveSecret, generateSecret, hashSecret } from "../domain/keys/secret.js";
import { excess } from "../domain/keys/policy.js";
import { keyPermissionSet, limitsOf, parseList } from "../domain/keys/record.js";
import type { ApiKeysTable } from "../store/schema.js";
import { type OrgAccess, rolePermissions } from "./access.js";
import { callerPrincipal, refuseLooserThanCaller } from "./key-rights.js";
import { writeAudit } from "./audit.js";
import type { RequestCtx } from "./deps.js";
import { type CreatedKey, type KeyService, checkVersion, retryWhileStale, staleVersion } from "./key-service.js";
import { toKeyView } from "./key-view.js";

export const MAX_GRACE_SECONDS = 7 * 24 * 3600;

/**
 * Regenerating hands the caller the key's secret, so the caller must be able to grant
 * everything the key carries, where it acts: otherwise an admin with rights over a
 * service account, or a narrow key of the same user, could take a wider key's power.
 * Only the owner itself, signed in (no key limit), skips the check.
 */
async function assertMayHoldSecret(svc: KeyService, access: OrgAccess, row: ApiKeysTable): Promise<void> {
  const me = callerPrincipal(access);
  if (me.type === row.owner_type && me.id === row.owner_id && !access.actor.limit) return;
  const roles = await rolePermissions(svc.deps, access.org.id);
  const carried = keyPermissionSet(
    parseList(row.permissions),
    parseList(row.roles),
    roles,
    svc.deps.catalog,
    access.org.isOperator,
  );
  if (carried === null) {
    throw new AppError(
      "FORBIDDEN",
      "Only its owner, signed in, may regenerate a key that carries all of the owner's permissions",
    );
  }
  const scope = row.owner_type === "project" ? [row.owner_id] : parseList(row.allowed_projects);
  const over = excess(carried, svc.grantable(access, scope));
  if (over.length > 0) {
    throw new AppError(
      "FORBIDDEN",
      `Regenerating would hand you permissions you do not hold: ${over.slice(0, 10).join(", ")}`,
    );
  }
}

/**
 * Issues a new secret for the same key id and settings (DESIGN §3.5). The old secret stops
 * at once, or after `graceSeconds`. With an Idempotency-Key, a retry returns the same new
 * secret: it is derived from a stored nonce, the key id and the header under the pepper, so
 * it is never stored.
 */
export async function regenerateKey(
  svc: KeyService,
  ctx: RequestCtx,
  access: OrgAccess,
  keyId: string,
  opts: { graceSeconds?: number; idempotencyKey?: string; ifMatch?: number },
): Promise<CreatedKey> {
  return retryWhileStale(opts.ifMatch, () => regenerateOnce(svc, ctx, access, keyId, opts));
}

async function regenerateOnce(
  svc: KeyService,
  ctx: RequestCtx,
  access: OrgAccess,
  keyId: string,
  opts: { graceSeconds?: number; idempotencyKey?: string; ifMatch?: number },
): Promise<CreatedKey> {
  const { deps } = svc;
  const grace = opts.graceSeconds ?? 0;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw invalidField("graceSeconds", `graceSeconds must be a whole number from 0 to ${MAX_GRACE_SECONDS}`);
  }
  const { row, rights } = await svc.loadVisible(access, keyId);
  if (!rights.edit) throw new AppError("FORBIDDEN", "You may view this key but not regenerate it");
  await assertMayHoldSecret(svc, access, row);
  await refuseLooserThanCaller(deps, access, limitsOf(row), "Sign in to regenerate a key with a looser");
  const prefix = deps.config.keyPrefix;
  const idem = opts.idempotencyKey;
  // Bound to the caller: only whoever regenerated may replay it. Another principal allowed to
  // regenerate the key who sends the same header (a guessable "rotate-42") regenerates it
  // anew, visibly, rather than silently receiving the secret in use.
  const me = callerPrincipal(access);
  const idemHash = idem ? createHash("sha256").update(`${me.type}:${me.id}:${idem}`).digest("hex") : null;
  const now = deps.now();

  // A retry: the same inputs derive the same secret, which must still be the key's secret.
  const replay = async (): Promise<CreatedKey | null> => {
    if (!idem || !idemHash) return null;
    const prior = await deps.db.kysely
      .selectFrom("key_regenerations")
      .selectAll()
      .where("key_id", "=", keyId)
      .where("idempotency_hash", "=", idemHash)
      .executeTakeFirst();
    if (!prior) return null;
    const current = await deps.db.kysely
      .selectFrom("api_keys")
      .selectAll()
      .where("id", "=", keyId)
      .executeTakeFirstOrThrow();
    // Derived under the prefix it was made with: any still accepted (the prefix may have changed since).
    const again = deps.config.keyPrefixes
      .map((p) => deriveSecret(p, deps.pepper, `${prior.nonce}:${keyId}:${idem}`))
      .find((candidate) => hashSecret(candidate.secret, deps.pepper) === current.secret_hash);
    if (!again) {
      throw new AppError(
        "CONFLICT",
        "This Idempotency-Key was used for an earlier regenerate that has since been superseded",
      );
    }
    // The same request, or none: a retry asking for another grace period would be answered
    // with the first one's secret, its caller believing in a grace that is not running.
    const graceOf = (seconds: number) =>
      seconds > 0 ? new Date(Date.parse(prior.created_at) + seconds * 1000).toISOString() : null;
    if (current.previous_expires_at !== graceOf(grace)) {
      throw new AppError("CONFLICT", "This Idempotency-Key was used for a regenerate with another graceSeconds", {
        errors: [{ path: "graceSeconds", code: "idempotency", message: "differs from the first request's" }],
      });
    }
    return { apiKey: toKeyView(current, now), secret: again.secret };
  };
  const replayed = await replay();
  if (replayed) return replayed;
  checkVersion(row, opts.ifMatch);

  const nonce = randomBytes(24).toString("hex");
  const fresh = idem ? deriveSecret(prefix, deps.pepper, `${nonce}:${keyId}:${idem}`) : generateSecret(prefix);
  const previousExpires = grace > 0 ? new Date(now.getTime() + grace * 1000).toISOString() : null;
  const next = {
    ...row,
    start: fresh.start,
    secret_hash: hashSecret(fresh.secret, deps.pepper),
    previous_hash: grace > 0 ? row.secret_hash : null,
    previous_expires_at: previousExpires,
    updated_at: now.toISOString(),
    version: row.version + 1,
  };
  try {
    await deps.db.kysely.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable("api_keys")
        .set({
          start: next.start,
          secret_hash: next.secret_hash,
          previous_hash: next.previous_hash,
          previous_expires_at: next.previous_expires_at,
          updated_at: next.updated_at,
          version: next.version,
        })
        .where("id", "=", keyId)
        .where("version", "=", row.version)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw staleVersion();
      if (idemHash) {
        await trx
          .insertInto("key_regenerations")
          .values({
            key_id: keyId,
            idempotency_hash: idemHash,
            nonce,
            version: next.version,
            created_at: next.updated_at,
          })
          .execute();
      }
      await writeAudit(trx, ctx, now, {
        orgId: access.org.id,
        action: "api_key.regenerate",
        target: { type: "api_key", id: keyId },
        details: { after: { graceSeconds: grace, previousSecretExpiresAt: previousExpires, version: next.version } },
      });
      await deps.keyEvents.announce(trx, { kind: "key", keyId });
    });
  } catch (err) {
    // A concurrent twin with the same Idempotency-Key won the race: answer with its secret.
    const twin = await replay().catch(() => null);
    if (twin) return twin;
    throw err;
  }
  deps.keyEvents.emit({ kind: "key", keyId });
  return { apiKey: toKeyView(next, now), secret: fresh.secret };
}
