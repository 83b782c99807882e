import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { sql } from "kysely";
import { DEFAULT_ORG_SETTINGS } from "../domain/org-settings.js";
import { newId, randomBase62 } from "../domain/ids.js";
import { createHmac, timingSafeEqual } from "node:crypto";
import { ConfigError, type Config } from "../config.js";
import type { Db } from "../store/db.js";
import { hashPassword } from "./passwords.js";
import { newEventId } from "./audit.js";

/**
 * The server pepper: KEYWARD_SECRET, or one generated into the data directory (mode 0600;
 * the directory, when Keyward creates it, 0700) on first start and reused after.
 */
export function loadPepper(config: Config): string {
  if (config.secret) return config.secret;
  const file = path.join(config.dataDir, "secret.key");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBase62(64);
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
  return secret;
}

/**
 * Refuses a secret other than the one the database was made with: every key's stored hash and
 * the signing keys depend on it, so with another one every key would answer NOT_FOUND and
 * every token exchange fail. The first start (or the first after an upgrade) records its
 * fingerprint, an HMAC of a constant, which tells nothing about the secret.
 */
export async function checkSecret(db: Db, pepper: string, now: Date): Promise<void> {
  const fingerprint = createHmac("sha256", pepper).update("keyward secret fingerprint v1").digest("hex");
  await db.kysely
    .insertInto("instance_settings")
    .values({ name: "secret_fingerprint", value: fingerprint, created_at: now.toISOString() })
    .onConflict((oc) => oc.column("name").doNothing())
    .execute();
  const stored = await db.kysely
    .selectFrom("instance_settings")
    .select("value")
    .where("name", "=", "secret_fingerprint")
    .executeTakeFirstOrThrow();
  const same =
    stored.value.length === fingerprint.length && timingSafeEqual(Buffer.from(stored.value), Buffer.from(fingerprint));
  if (!same) {
    throw new ConfigError(
      "KEYWARD_SECRET (or data/secret.key) is not the secret this database was made with: every API key and signing key depends on it. Start with the original secret.",
    );
  }
}

export interface FirstStart {
  email: string;
  /** Only when generated: the caller prints it once. */
  password?: string;
  orgId: string;
}

/** Any fixed number: the PostgreSQL advisory lock the nodes of a cluster take to bootstrap in turn. */
const BOOTSTRAP_LOCK = 0x6b657977; // "keyw"

/**
 * On an empty database: an owner user and the operator org. Returns null when users exist,
 * so a second start creates and prints nothing. Nodes started at once on one empty database
 * bootstrap in turn (a PostgreSQL advisory lock, or SQLite's write lock, held by the
 * transaction that checks and writes): one creates the owner, the others find it.
 */
export async function bootstrap(db: Db, config: Config, now: Date): Promise<FirstStart | null> {
  const exists = async (q: Pick<Db["kysely"], "selectFrom">) =>
    !!(await q.selectFrom("users").select("id").limit(1).executeTakeFirst());
  if (await exists(db.kysely)) return null;
  const email = (config.adminEmail ?? "admin@keyward.local").trim().toLowerCase();
  const generated = config.adminPassword ? undefined : randomBase62(20);
  const password = config.adminPassword ?? (generated as string);
  const t = now.toISOString();
  const userId = newId("usr");
  const orgId = newId("org");
  const passwordHash = await hashPassword(password);
  const created = await db.kysely.transaction().execute(async (trx) => {
    if (db.dialect === "postgres") await sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`.execute(trx);
    if (await exists(trx)) return false;
    await trx
      .insertInto("users")
      .values({
        id: userId,
        email,
        name: "Owner",
        password_hash: passwordHash,
        must_change_password: generated ? 1 : 0,
        created_at: t,
        updated_at: t,
      })
      .execute();
    await trx
      .insertInto("orgs")
      .values({
        id: orgId,
        name: "Operator",
        is_operator: 1,
        settings: JSON.stringify(DEFAULT_ORG_SETTINGS),
        created_at: t,
        updated_at: t,
        version: 1,
      })
      .execute();
    await trx
      .insertInto("org_members")
      .values({ org_id: orgId, user_id: userId, invited_by: null, created_at: t })
      .execute();
    await trx
      .insertInto("bindings")
      .values({
        id: newId("rb"),
        org_id: orgId,
        principal_type: "user",
        principal_id: userId,
        role_id: "role_owner",
        project_id: null,
        created_at: t,
      })
      .execute();
    await trx
      .insertInto("audit_events")
      .values({
        id: newEventId(Date.parse(t)),
        org_id: orgId,
        actor_type: "system",
        actor_id: null,
        actor_credential: null,
        actor_key_id: null,
        action: "system.bootstrap",
        target_type: "user",
        target_id: userId,
        result: "success",
        details: JSON.stringify({ after: { email } }),
        ip: null,
        user_agent: null,
        request_id: null,
        created_at: t,
      })
      .execute();
    return true;
  });
  return created ? { email, password: generated, orgId } : null;
}
