import type { ApiKey, Permission, Role, RoleBinding } from "../api/types";

/** Permission helpers mirroring the server's pattern rules (DESIGN §2). */

/** Does a grant pattern cover a permission? `*` spans one or more segments. */
export function matches(pattern: string, permission: string): boolean {
  if (pattern === permission || pattern === "*") return true;
  if (!pattern.includes("*")) return false;
  const body = pattern
    .split("*")
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".+");
  return new RegExp(`^${body}$`).test(permission);
}

export const READ_ACTIONS = new Set(["read", "list", "get"]);
const actionOf = (p: string) => p.slice(p.lastIndexOf(":") + 1);
export const isRead = (p: string) => READ_ACTIONS.has(actionOf(p));
export const isDelete = (p: string) => actionOf(p) === "delete";
/** Anything that is neither a read nor a delete counts as a write (create, update, manage…). */
export const isWrite = (p: string) => !isRead(p) && !isDelete(p);

export interface PermissionGroup {
  product: string;
  permissions: Permission[];
}

/** Groups permissions by product (the first segment), products sorted, iam last. */
export function groupByProduct(perms: readonly Permission[]): PermissionGroup[] {
  const map = new Map<string, Permission[]>();
  for (const p of perms) {
    const product = p.name.split(":")[0];
    map.set(product, [...(map.get(product) ?? []), p]);
  }
  return [...map.entries()]
    .sort(([a], [b]) => (a === "iam" ? 1 : b === "iam" ? -1 : a.localeCompare(b)))
    .map(([product, permissions]) => ({ product, permissions }));
}

export type BulkKind = "read" | "write" | "delete";
const kindTest: Record<BulkKind, (p: string) => boolean> = { read: isRead, write: isWrite, delete: isDelete };

/** Adds every permission of a kind from `available` to `selected` (bulk "Read all" etc.). */
export function selectAll(selected: readonly string[], available: readonly string[], kind: BulkKind): string[] {
  const add = available.filter(kindTest[kind]);
  return [...new Set([...selected, ...add])];
}

/** True when every permission of that kind in `available` is already selected. */
export function allSelected(selected: readonly string[], available: readonly string[], kind: BulkKind): boolean {
  const want = available.filter(kindTest[kind]);
  return want.length > 0 && want.every((p) => selected.includes(p));
}

/** Toggles a kind: selects all of it, or removes all of it when already fully selected. */
export function toggleAll(selected: readonly string[], available: readonly string[], kind: BulkKind): string[] {
  if (!allSelected(selected, available, kind)) return selectAll(selected, available, kind);
  const drop = new Set(available.filter(kindTest[kind]));
  return selected.filter((p) => !drop.has(p));
}

/** Org-wide permission patterns of a principal from its role bindings. */
export function patternsOf(bindings: readonly RoleBinding[], roles: readonly Role[], orgWideOnly = true): string[] {
  const byId = new Map(roles.map((r) => [r.id, r.permissions]));
  return bindings.filter((b) => !orgWideOnly || !b.projectId).flatMap((b) => byId.get(b.roleId) ?? []);
}

export const can = (patterns: readonly string[], permission: string) => patterns.some((p) => matches(p, permission));

/** A short summary of a key's permissions for the table. */
export function permissionSummary(key: Pick<ApiKey, "permissions" | "roles" | "readOnly">): string {
  const perms = key.permissions ?? [];
  const roles = key.roles ?? [];
  if (!perms.length && !roles.length) return key.readOnly ? "All of owner's (read)" : "All of owner's";
  const parts: string[] = [];
  if (perms.length) parts.push(perms.length <= 2 ? perms.join(", ") : `${perms.length} permissions`);
  if (roles.length) parts.push(roles.length === 1 ? `role ${roles[0].replace(/^role_/, "")}` : `${roles.length} roles`);
  return parts.join(" + ");
}
