/**
 * Does a grant pattern cover a concrete permission? Same rules as the server:
 * `*` spans one or more segments, so `compute:*` covers `compute:disk:read`, `*:read` covers `compute:read`.
 */
export function permissionMatches(pattern: string, permission: string): boolean {
  if (pattern === permission || pattern === "*") return true;
  if (!pattern.includes("*")) return false;
  const body = pattern
    .split("*")
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".+");
  return new RegExp(`^${body}$`).test(permission);
}

/** Every permission in `wanted` is covered by some grant in `granted`. */
export const allPermitted = (granted: readonly string[], wanted: readonly string[]) =>
  wanted.every((w) => granted.some((g) => permissionMatches(g, w)));

/** Read actions: a permission whose last segment is one of these only reads (as the server says). */
const READ_ACTIONS = new Set(["read", "list", "get"]);

/** Does the permission only read (`compute:read`, `storage:bucket:list`)? */
export const isReadPermission = (name: string) => READ_ACTIONS.has(name.slice(name.lastIndexOf(":") + 1));
