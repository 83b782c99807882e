import type { PermissionDef } from "./catalog.js";
import { expand, matches } from "./match.js";

/** A permission pattern granted org-wide (`projectId: null`) or on one project. */
export interface Grant {
  pattern: string;
  projectId: string | null;
}

/** Does this set of grants allow `permission` (on `projectId`, or org-wide when null)? */
export function allows(grants: readonly Grant[], permission: string, projectId: string | null): boolean {
  return grants.some((g) => (g.projectId === null || g.projectId === projectId) && matches(g.pattern, permission));
}

/** Does any grant allow `permission` on any project or org-wide? */
export function allowsAnywhere(grants: readonly Grant[], permission: string): boolean {
  return grants.some((g) => matches(g.pattern, permission));
}

/**
 * Concrete permissions held org-wide, and per project, after catalog expansion.
 * Org-wide permissions apply to every project too.
 */
export function expandGrants(
  grants: readonly Grant[],
  catalog: readonly PermissionDef[],
  includePlatform: boolean,
): { org: Set<string>; projects: Map<string, Set<string>> } {
  const org = expand(
    grants.filter((g) => g.projectId === null).map((g) => g.pattern),
    catalog,
    includePlatform,
  );
  const projects = new Map<string, Set<string>>();
  for (const g of grants) {
    if (g.projectId === null) continue;
    const set = projects.get(g.projectId) ?? new Set(org);
    for (const p of expand([g.pattern], catalog, includePlatform)) set.add(p);
    projects.set(g.projectId, set);
  }
  return { org, projects };
}
