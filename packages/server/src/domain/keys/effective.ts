import { isReadPermission } from "../permissions/catalog.js";
import type { PermissionDef } from "../permissions/catalog.js";
import { type Grant, expandGrants } from "../permissions/grants.js";

/** Concrete permissions held org-wide, and per project (project sets include the org-wide ones). */
export interface PermissionScopes {
  org: Set<string>;
  projects: Map<string, Set<string>>;
}

/** Concrete permissions that apply in `projectId` (or org-wide when null). */
export function atProject(scopes: PermissionScopes, projectId: string | null): Set<string> {
  if (projectId === null) return scopes.org;
  return scopes.projects.get(projectId) ?? scopes.org;
}

const intersect = (a: Set<string>, b: Set<string> | null, readOnly: boolean): Set<string> => {
  const out = new Set<string>();
  for (const p of a) {
    if (b && !b.has(p)) continue;
    if (readOnly && !isReadPermission(p)) continue;
    out.add(p);
  }
  return out;
};

/**
 * DESIGN §3.1: a key's effective permissions = its own (null = all of its owner's) ∩ what the
 * owner holds now ∩ (read actions only, when read-only). Computed per scope, since an
 * owner may hold a permission in one project only.
 * @example effectivePermissions({ keyPermissions: new Set(["compute:read"]), ownerGrants, catalog, includePlatform: false, readOnly: false })
 */
export function effectivePermissions(input: {
  keyPermissions: Set<string> | null;
  ownerGrants: readonly Grant[];
  catalog: readonly PermissionDef[];
  includePlatform: boolean;
  readOnly: boolean;
}): PermissionScopes {
  const owner = expandGrants(input.ownerGrants, input.catalog, input.includePlatform);
  const projects = new Map<string, Set<string>>();
  for (const [id, set] of owner.projects) projects.set(id, intersect(set, input.keyPermissions, input.readOnly));
  return { org: intersect(owner.org, input.keyPermissions, input.readOnly), projects };
}
