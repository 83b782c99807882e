import { AppError, invalidField } from "../domain/errors.js";
import type { KeyOwnerType } from "../domain/keys/decide.js";
import { type KeyLimits, refuseLoosened } from "../domain/keys/policy.js";
import { limitsOf } from "../domain/keys/record.js";
import type { OrgAccess } from "./access.js";
import type { Deps } from "./deps.js";

/** The principal the caller acts as: a user, a service account, or a project (project keys). */
export function callerPrincipal(access: OrgAccess): { type: KeyOwnerType; id: string } {
  return { type: access.actor.kind, id: access.actor.id };
}

/** What the caller may do with one key. Nothing at all → the key answers 404. */
export interface KeyRights {
  view: boolean;
  /** PATCH and regenerate. */
  edit: boolean;
  /** Disable and enable. */
  disable: boolean;
  delete: boolean;
  /** Governs others' keys (iam:apikeys:manage): enables a key an administrator disabled. */
  manage: boolean;
}

/**
 * May the caller act for this owner (DESIGN §3.3)? Itself; a service account it may update;
 * a project it may update. A key credential needs `iam:apikeys:create` (or no list) and
 * must not be read-only to change keys.
 */
export function ownerRights(access: OrgAccess, owner: { type: KeyOwnerType; id: string }): boolean {
  const me = callerPrincipal(access);
  if (me.type === owner.type && me.id === owner.id) return true;
  if (owner.type === "service_account") return access.can("iam:serviceaccounts:update");
  if (owner.type === "project") return access.can("iam:projects:update", owner.id);
  return false;
}

/** A key credential may change keys only when it is writable and carries key permissions. */
function credentialMayWrite(access: OrgAccess): boolean {
  const limit = access.actor.limit;
  if (!limit) return true;
  return !limit.readOnly && (limit.permissions === null || limit.permissions.has("iam:apikeys:create"));
}

/** Users `userId` invited into the org, directly or down the invitation tree. */
export async function invitedSubtree(deps: Deps, orgId: string, userId: string): Promise<Set<string>> {
  const rows = await deps.db.kysely
    .selectFrom("org_members")
    .select(["user_id", "invited_by"])
    .where("org_id", "=", orgId)
    .execute();
  const children = new Map<string, string[]>();
  for (const r of rows) {
    if (!r.invited_by) continue;
    const list = children.get(r.invited_by) ?? [];
    list.push(r.user_id);
    children.set(r.invited_by, list);
  }
  const out = new Set<string>();
  const queue = [userId];
  while (queue.length > 0) {
    for (const c of children.get(queue.pop() as string) ?? []) {
      if (c === userId || out.has(c)) continue;
      out.add(c);
      queue.push(c);
    }
  }
  return out;
}

/**
 * Whether `inviterManagesKeys` applies to the caller at all: a user, through a session or a
 * key (or token) that carries key rights org-wide. Others' keys are an org-wide act, so a
 * credential kept to projects, or whose list names no key right, does not reach them.
 */
function inviterCredential(access: OrgAccess): boolean {
  if (!access.org.settings.inviterManagesKeys || access.actor.kind !== "user") return false;
  const limit = access.actor.limit;
  return (
    !limit || (limit.projects === null && (limit.permissions === null || limit.permissions.has("iam:apikeys:create")))
  );
}

/** Does `inviterManagesKeys` let the caller see and delete this user's keys? */
async function viaInvitation(
  deps: Deps,
  access: OrgAccess,
  owner: { type: KeyOwnerType; id: string },
): Promise<boolean> {
  if (!inviterCredential(access) || owner.type !== "user") return false;
  return (await invitedSubtree(deps, access.org.id, access.actor.id)).has(owner.id);
}

export async function keyRights(
  deps: Deps,
  access: OrgAccess,
  owner: { type: KeyOwnerType; id: string },
): Promise<KeyRights> {
  const own = ownerRights(access, owner);
  const write = credentialMayWrite(access);
  const manage = access.can("iam:apikeys:manage");
  const inviter = !own && !manage ? await viaInvitation(deps, access, owner) : false;
  return {
    view: own || manage || inviter,
    edit: own && write,
    disable: (own && write) || manage,
    manage,
    // A read-only credential deletes nothing, whichever right it would delete by.
    delete: (own && write) || manage || (inviter && write),
  };
}

/** The owner filter a list `view` stands for; throws 403 for views the caller may not use. */
export type ListFilter = { kind: "owner"; ids: string[] } | { kind: "type"; type: KeyOwnerType } | { kind: "all" };

export async function listFilter(deps: Deps, access: OrgAccess, view: string): Promise<ListFilter> {
  const me = callerPrincipal(access);
  const manage = access.can("iam:apikeys:manage");
  const deny = () =>
    new AppError("FORBIDDEN", `Viewing other principals' keys needs iam:apikeys:manage (view=${view})`);
  switch (view) {
    case "mine":
      return { kind: "owner", ids: [me.id] };
    case "users":
      if (manage) return { kind: "type", type: "user" };
      if (inviterCredential(access)) {
        return { kind: "owner", ids: [me.id, ...(await invitedSubtree(deps, access.org.id, me.id))] };
      }
      throw deny();
    case "service-accounts":
    case "projects":
      if (!manage) throw deny();
      return { kind: "type", type: view === "projects" ? "project" : "service_account" };
    case "all":
      if (!manage) throw deny();
      return { kind: "all" };
  }
  const type: KeyOwnerType | null = view.startsWith("usr_")
    ? "user"
    : view.startsWith("sa_")
      ? "service_account"
      : view.startsWith("prj_")
        ? "project"
        : null;
  if (!type || !/^[a-z]+_[0-9A-Za-z]{1,40}$/.test(view)) {
    throw invalidField("view", "view must be mine, users, service-accounts, projects, all or a principal id");
  }
  if (manage || ownerRights(access, { type, id: view }) || (await viaInvitation(deps, access, { type, id: view }))) {
    return { kind: "owner", ids: [view] };
  }
  throw deny();
}

/**
 * A key or token may give no one a key less restricted than its own key (a rate-limited,
 * IP-bound or expiring key must not mint itself a free twin, by creating one or by taking a
 * sibling's new secret): 403 naming what `limits` loosens. Signed in, anything goes.
 */
export async function refuseLooserThanCaller(
  deps: Deps,
  access: OrgAccess,
  limits: KeyLimits,
  refusal: string,
): Promise<void> {
  const { credential } = access.actor;
  const callerKeyId = credential.type === "api_key" ? credential.id : credential.keyId;
  if (!access.actor.limit || !callerKeyId) return;
  const caller = await deps.db.kysely
    .selectFrom("api_keys")
    .select(["allowed_ips", "expires_at", "ratelimit_limit", "ratelimit_window"])
    .where("id", "=", callerKeyId)
    .executeTakeFirst();
  if (caller) refuseLoosened(limitsOf(caller), limits, refusal);
}
