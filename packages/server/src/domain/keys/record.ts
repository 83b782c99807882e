import type { KeyLimits } from "./policy.js";
import type { PermissionDef } from "../permissions/catalog.js";
import { expand } from "../permissions/match.js";

/**
 * The key's own concrete permissions: its explicit patterns and its roles' patterns,
 * expanded against the catalog. null when it has neither (it carries all of its owner's).
 */
export function keyPermissionSet(
  permissions: readonly string[] | null,
  roles: readonly string[] | null,
  rolePermissions: ReadonlyMap<string, readonly string[]>,
  catalog: readonly PermissionDef[],
  includePlatform: boolean,
): Set<string> | null {
  if (permissions === null && roles === null) return null;
  const patterns = [...(permissions ?? [])];
  // A role deleted since the key was made grants nothing.
  for (const r of roles ?? []) patterns.push(...(rolePermissions.get(r) ?? []));
  return expand(patterns, catalog, includePlatform);
}

/** A key row's rate limit, or null when it has none. */
export const ratelimitOf = (r: { ratelimit_limit: number | null; ratelimit_window: number | null }) =>
  r.ratelimit_limit !== null && r.ratelimit_window !== null
    ? { limit: r.ratelimit_limit, windowSeconds: r.ratelimit_window }
    : null;

/** JSON list column → array (null stays null). */
export const parseList = (json: string | null): string[] | null =>
  json === null ? null : (JSON.parse(json) as string[]);

/** A key row's restrictions that a key or token may only tighten (see `loosenedLimits`). */
export const limitsOf = (r: {
  allowed_ips: string | null;
  expires_at: string | null;
  ratelimit_limit: number | null;
  ratelimit_window: number | null;
}): KeyLimits => ({ allowedIps: parseList(r.allowed_ips), expiresAt: r.expires_at, ratelimit: ratelimitOf(r) });
