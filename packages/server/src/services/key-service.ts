import { AppError, invalidField, notFound } from "../domain/errors.js";
import type { KeyOwnerType } from "../domain/keys/decide.js";
import { grantableAt, holdsExplicitCreate } from "../domain/keys/policy.js";
import { type Page, type PageRequest, paginate } from "../store/pagination.js";
import type { ApiKeysTable } from "../store/schema.js";
import type { OrgAccess } from "./access.js";
import { writeAudit } from "./audit.js";
import type { Deps, RequestCtx } from "./deps.js";
import { createKey } from "./key-create.js";
import { type KeySettingsInput, existingProjects } from "./key-input.js";
import { type KeyRights, callerPrincipal, keyRights, listFilter } from "./key-rights.js";
import { updateKey } from "./key-update.js";
import { type ApiKeyView, auditFields, toKeyView } from "./key-view.js";

export interface CreateKeyInput extends KeySettingsInput {
  name: string;
  owner?: { type: KeyOwnerType; id: string };
}

export interface CreatedKey {
  apiKey: ApiKeyView;
  /** Shown once; never stored. */
  secret: string;
}

/**
 * 404 for a key that exists in the caller's org but is not the caller's to see. It answers
 * exactly like a missing key, yet is audited as a denied attempt.
 */
export class HiddenKeyError extends AppError {
  /** Audited as a refusal (see isRefusal), though it answers as a missing key. */
  readonly refusal = true;
  constructor() {
    super("NOT_FOUND", "API key not found");
  }
}

/**
 * API keys (DESIGN §2–§4): create, list, read, edit, disable, enable, delete. Every change
 * and every refusal writes an audit event; changes emit a key event after commit.
 */
export class KeyService {
  constructor(readonly deps: Deps) {}

  /** The org a key belongs to (404 when there is no such key). */
  async orgOf(keyId: string): Promise<string> {
    const row = await this.deps.db.kysely
      .selectFrom("api_keys")
      .select("org_id")
      .where("id", "=", keyId)
      .executeTakeFirst();
    if (!row) throw notFound("API key");
    return row.org_id;
  }

  /** Permission names the caller may grant to a key acting in `scope` (null = org-wide). */
  grantable(access: OrgAccess, scope: readonly string[] | null): Set<string> {
    // A credential confined to projects cannot mint org-wide keys: `can` refuses it anything org-wide.
    return grantableAt(
      this.deps.catalog.map((d) => d.name),
      access.can,
      scope,
    );
  }

  /**
   * Exactly what the caller may grant to a key acting org-wide (no project) or in one
   * project, and whether it may create a key there at all.
   */
  async allowedPermissions(
    access: OrgAccess,
    projectId: string | null,
  ): Promise<{ projectId: string | null; canCreate: boolean; names: string[] }> {
    if (projectId && (await existingProjects(this.deps, access.org.id, [projectId])).size === 0) {
      throw invalidField("projectId", `project ${projectId} does not exist in this organization`, "not_found");
    }
    const grantable = this.grantable(access, projectId ? [projectId] : null);
    const policyOk =
      !access.org.settings.restrictKeyCreation || holdsExplicitCreate(access.grants, projectId ? [projectId] : null);
    return { projectId, canCreate: grantable.has("iam:apikeys:create") && policyOk, names: [...grantable] };
  }

  async create(ctx: RequestCtx, access: OrgAccess, input: CreateKeyInput): Promise<CreatedKey> {
    return createKey(this, ctx, access, input);
  }

  async list(access: OrgAccess, view: string, page: PageRequest): Promise<Page<ApiKeyView>> {
    const filter = await listFilter(this.deps, access, view);
    let q = this.deps.db.kysely.selectFrom("api_keys").selectAll().where("org_id", "=", access.org.id);
    if (filter.kind === "owner")
      q = filter.ids.length === 1 ? q.where("owner_id", "=", filter.ids[0]) : q.where("owner_id", "in", filter.ids);
    if (filter.kind === "type") q = q.where("owner_type", "=", filter.type);
    const res = await paginate(q, page);
    const now = this.deps.now();
    return { items: res.items.map((r) => toKeyView(r, now)), nextCursor: res.nextCursor };
  }

  /** Loads a key the caller may at least view; 404 otherwise (existence never leaks). */
  async loadVisible(access: OrgAccess, keyId: string): Promise<{ row: ApiKeysTable; rights: KeyRights }> {
    const row = await this.deps.db.kysely
      .selectFrom("api_keys")
      .selectAll()
      .where("id", "=", keyId)
      .where("org_id", "=", access.org.id)
      .executeTakeFirst();
    if (!row) throw notFound("API key");
    const rights = await keyRights(this.deps, access, { type: row.owner_type, id: row.owner_id });
    if (!rights.view) throw new HiddenKeyError();
    return { row, rights };
  }

  async get(access: OrgAccess, keyId: string): Promise<ApiKeyView> {
    return toKeyView((await this.loadVisible(access, keyId)).row, this.deps.now());
  }

  update(
    ctx: RequestCtx,
    access: OrgAccess,
    keyId: string,
    patch: KeySettingsInput & { name?: string },
    ifMatch?: number,
  ): Promise<ApiKeyView> {
    return retryWhileStale(ifMatch, () => updateKey(this, ctx, access, keyId, patch, ifMatch));
  }

  async delete(ctx: RequestCtx, access: OrgAccess, keyId: string, ifMatch?: number): Promise<void> {
    const { row, rights } = await this.loadVisible(access, keyId);
    if (!rights.delete) throw new AppError("FORBIDDEN", "You may view this key but not delete it");
    checkVersion(row, ifMatch);
    const now = this.deps.now();
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      // Unconditional without If-Match: a rename at the same moment (by whoever holds the key,
      // say) must not make a revocation fail.
      let q = trx.deleteFrom("api_keys").where("id", "=", keyId);
      if (ifMatch !== undefined) q = q.where("version", "=", row.version);
      const res = await q.executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw ifMatch !== undefined ? staleVersion() : notFound("API key");
      await writeAudit(trx, ctx, now, {
        orgId: access.org.id,
        action: "api_key.delete",
        target: { type: "api_key", id: keyId },
        details: { before: auditFields(toKeyView(row, now)) },
      });
      await this.deps.keyEvents.announce(trx, { kind: "key", keyId });
    });
    this.deps.keyEvents.emit({ kind: "key", keyId });
  }

  /** Disables or enables a key; doing it twice changes nothing the second time. */
  async setStatus(
    ctx: RequestCtx,
    access: OrgAccess,
    keyId: string,
    status: "active" | "disabled",
    ifMatch?: number,
  ): Promise<ApiKeyView> {
    const action = status === "active" ? "api_key.enable" : "api_key.disable";
    const { row, rights } = await this.loadVisible(access, keyId);
    if (!rights.disable)
      throw new AppError("FORBIDDEN", `You may view this key but not ${status === "active" ? "enable" : "disable"} it`);
    checkVersion(row, ifMatch);
    // A key its administrator disabled (through iam:apikeys:manage, not as its owner) is theirs
    // to enable: not its owner's, nor a sibling key's, or a disable for a leak would not hold.
    if (status === "active" && row.status === "disabled" && row.disabled_by_manager === 1 && !rights.manage)
      throw new AppError("FORBIDDEN", "An administrator disabled this key: enabling it needs iam:apikeys:manage");
    const now = this.deps.now();
    // A disable by whoever governs others' keys and is not the key's own principal (an admin,
    // who may also act for a project or service account) holds against the owner's side.
    const me = callerPrincipal(access);
    const ownPrincipal = me.type === row.owner_type && me.id === row.owner_id;
    const byManager = status === "disabled" && (!rights.edit || (rights.manage && !ownPrincipal)) ? 1 : 0;
    // Nothing to change, unless an administrator disables a key its owner had disabled: from
    // then on it is the administrator's to enable.
    const marks = status === "disabled" && byManager === 1 && row.disabled_by_manager === 0;
    if (row.status === status && !marks) return toKeyView(row, now);
    const updatedAt = now.toISOString();
    let next = row;
    await this.deps.db.kysely.transaction().execute(async (trx) => {
      // Unconditional without If-Match, as delete is.
      let q = trx
        .updateTable("api_keys")
        .set((eb) => ({
          status,
          disabled_by_manager: byManager,
          updated_at: updatedAt,
          version: eb("version", "+", 1),
        }))
        .where("id", "=", keyId);
      if (ifMatch !== undefined) q = q.where("version", "=", row.version);
      const res = await q.executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw ifMatch !== undefined ? staleVersion() : notFound("API key");
      next = await trx.selectFrom("api_keys").selectAll().where("id", "=", keyId).executeTakeFirstOrThrow();
      await writeAudit(trx, ctx, now, {
        orgId: access.org.id,
        action,
        target: { type: "api_key", id: keyId },
        details: { before: { status: row.status }, after: { status } },
      });
      await this.deps.keyEvents.announce(trx, { kind: "key", keyId });
    });
    this.deps.keyEvents.emit({ kind: "key", keyId });
    return toKeyView(next, now);
  }
}

export const staleVersion = () =>
  new AppError("PRECONDITION_FAILED", "The key changed since you read it; reload and retry");

/**
 * Runs a read-then-write edit of a key. Without If-Match its caller set no condition, so an
 * edit landing between the read and the write (a rename at the same moment) makes it read
 * again and redo its checks, rather than answer 412. With If-Match, 412 is the answer.
 */
export async function retryWhileStale<T>(ifMatch: number | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (err) {
      const stale = err instanceof AppError && err.code === "PRECONDITION_FAILED";
      if (!stale || ifMatch !== undefined || tries >= 5) throw err;
    }
  }
}

/** 412 when If-Match names a version other than the stored one. */
export function checkVersion(row: { version: number }, ifMatch: number | undefined) {
  if (ifMatch !== undefined && ifMatch !== row.version) throw staleVersion();
}
