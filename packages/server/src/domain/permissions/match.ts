import type { PermissionDef } from "./catalog.js";

/** Permission names: `service:action` or `service:resource:action`, lower-case. */
export const PERMISSION_NAME = /^[a-z][a-z0-9-]{0,39}(:[a-z][a-z0-9-]{0,39}){1,2}$/;
/** Grants may use `*` for whole segments: `*`, `compute:*`, `*:read`, `iam:*:read`. */
export const PERMISSION_PATTERN = /^(\*|[a-z][a-z0-9-]{0,39})(:(\*|[a-z][a-z0-9-]{0,39})){0,2}$/;

/**
 * Compiled patterns. Clients send patterns too (a key's or role's permissions, checked before
 * anything is stored), so the cache is bounded: past its size it starts again.
 */
const cache = new Map<string, RegExp>();
const CACHE_MAX = 10_000;

/** How many compiled patterns are held (for tests). */
export const patternCacheSize = () => cache.size;

function toRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    if (cache.size >= CACHE_MAX) cache.clear();
    // `*` spans one or more segments, so `compute:*` covers `compute:disk:read` too.
    const body = pattern
      .split("*")
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".+");
    re = new RegExp(`^${body}$`);
    cache.set(pattern, re);
  }
  return re;
}

/** Does a grant pattern cover a concrete permission? @example matches("*:read", "compute:read") // true */
export function matches(pattern: string, permission: string): boolean {
  if (pattern === permission || pattern === "*") return true;
  if (!pattern.includes("*")) return false;
  return toRegExp(pattern).test(permission);
}

/**
 * Expands patterns to the concrete catalog permissions they cover.
 * Platform permissions are left out unless `includePlatform` (the operator org).
 */
export function expand(
  patterns: readonly string[],
  catalog: readonly PermissionDef[],
  includePlatform: boolean,
): Set<string> {
  const out = new Set<string>();
  for (const def of catalog) {
    if (def.platform && !includePlatform) continue;
    if (patterns.some((p) => matches(p, def.name))) out.add(def.name);
  }
  return out;
}
