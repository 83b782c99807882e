import type { Kysely } from "kysely";
import { AppError, type FieldError, notFound } from "../domain/errors.js";
import { normaliseKeyIps, parseExpiry } from "../domain/keys/policy.js";
import { expand } from "../domain/permissions/match.js";
import { PERMISSION_PATTERN } from "../domain/permissions/match.js";
import type { OrgAccess } from "./access.js";
import type { Db } from "../store/db.js";
import type { Database } from "../store/schema.js";
import type { Deps } from "./deps.js";

/** Restrictions and settings shared by create and update, as the client sends them. */
export interface KeySettingsInput {
  description?: string;
  defaultProjectId?: string | null;
  permissions?: string[];
  roles?: string[];
  readOnly?: boolean;
  allowedProjects?: string[] | null;
  allowedIps?: string[];
  expiresAt?: string | number | null;
  ratelimit?: { limit: number; windowSeconds: number } | null;
}

/** Collects field errors so one 400 names every bad field. */
export class FieldErrors {
  readonly list: FieldError[] = [];
  add(path: string, message: string, code = "invalid") {
    this.list.push({ path, code, message });
  }
  throwIfAny() {
    if (this.list.length === 0) return;
    const detail = this.list.map((e) => `${e.path}: ${e.message}`).join("; ");
    throw new AppError("INVALID_REQUEST", `Invalid request: ${detail}`, { errors: this.list });
  }
}

/** Checks permission patterns: well-formed and each covering something in the catalog. */
export function checkPatterns(
  deps: Deps,
  access: OrgAccess,
  patterns: readonly string[],
  errs: FieldErrors,
  field = "permissions",
) {
  patterns.forEach((p, i) => {
    if (!PERMISSION_PATTERN.test(p)) errs.add(`${field}/${i}`, `"${p}" is not a permission name or pattern`, "pattern");
    else if (expand([p], deps.catalog, access.org.isOperator).size === 0) {
      errs.add(`${field}/${i}`, `"${p}" matches no permission in the catalog`, "unknown");
    }
  });
}

/** Which of `ids` are projects of the org. */
export async function existingProjects(deps: Deps, orgId: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await deps.db.kysely
    .selectFrom("projects")
    .select("id")
    .where("org_id", "=", orgId)
    .where("id", "in", [...ids])
    .execute();
  return new Set(rows.map((r) => r.id));
}

export function checkProjectList(ids: readonly string[], known: Set<string>, errs: FieldErrors, field: string) {
  ids.forEach((id, i) => {
    if (!known.has(id)) errs.add(`${field}/${i}`, `project ${id} does not exist in this organization`, "not_found");
  });
}

export function checkRoles(roles: readonly string[], known: ReadonlyMap<string, unknown>, errs: FieldErrors) {
  roles.forEach((r, i) => {
    if (!known.has(r)) errs.add(`roles/${i}`, `role ${r} does not exist in this organization`, "not_found");
  });
}

export function normaliseIps(raw: readonly string[] | undefined, errs: FieldErrors): string[] | undefined {
  if (raw === undefined) return undefined;
  const res = normaliseKeyIps(raw);
  if ("error" in res) {
    errs.add(res.error.path, res.error.message, res.error.code);
    return undefined;
  }
  return res.rules;
}

/** undefined = not sent, null = cleared / never. */
export function normaliseExpiry(
  raw: string | number | null | undefined,
  now: Date,
  errs: FieldErrors,
): string | null | undefined {
  if (raw === undefined || raw === null) return raw;
  const res = parseExpiry(raw, now);
  if ("error" in res) {
    errs.add("expiresAt", `expiresAt ${res.error}`, "expiry");
    return undefined;
  }
  return res.iso;
}

/** De-duplicates a list, keeping the first occurrence. */
export const unique = <T>(list: readonly T[]): T[] => [...new Set(list)];

/**
 * Inside the transaction that writes a key: holds the rows the key names (its owning service
 * account or project, its projects) until the commit, and throws 404 for one deleted since it
 * was checked. Their deletes (which take their row first) wait for the key, or it finds them gone.
 */
export async function holdNamedRows(
  trx: Kysely<Database>,
  dialect: Db["dialect"],
  orgId: string,
  named: { serviceAccount?: string; projects: readonly string[] },
): Promise<void> {
  const pg = dialect === "postgres";
  if (named.serviceAccount) {
    let q = trx
      .selectFrom("service_accounts")
      .select("id")
      .where("id", "=", named.serviceAccount)
      .where("org_id", "=", orgId);
    if (pg) q = q.forShare();
    if (!(await q.executeTakeFirst())) throw notFound("Service account");
  }
  const projects = [...new Set(named.projects)];
  if (projects.length > 0) {
    let q = trx.selectFrom("projects").select("id").where("id", "in", projects).where("org_id", "=", orgId);
    if (pg) q = q.forShare();
    const found = new Set((await q.execute()).map((r) => r.id));
    const gone = projects.find((p) => !found.has(p));
    if (gone) throw notFound(`Project ${gone}`);
  }
}
