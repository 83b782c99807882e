import type { ApiKey } from "./types";
import { useAllowedPermissions, useMembers, useMyAccess, useOrg, useProjects, useServiceAccounts } from "./queries";

/** Display names for principals and projects of an org, from the lists the caller may read. */
export function useNames(orgId: string) {
  const access = useMyAccess(orgId);
  const members = useMembers(orgId, access.canSomewhere("iam:members:read"));
  const sas = useServiceAccounts(orgId, access.canSomewhere("iam:serviceaccounts:read"));
  const projects = useProjects(orgId, access.canSomewhere("iam:projects:read"));
  const byId = new Map<string, string>();
  for (const m of members.data ?? []) byId.set(m.userId, m.name || m.email);
  for (const s of sas.data ?? []) byId.set(s.id, s.name);
  for (const p of projects.data ?? []) byId.set(p.id, p.name);
  const name = (id: string | null | undefined) => (id ? (byId.get(id) ?? id) : "—");
  const ownerName = (k: ApiKey) => k.owner.name ?? name(k.owner.id);
  return {
    name,
    ownerName,
    projects: projects.data ?? [],
    serviceAccounts: sas.data ?? [],
    members: members.data ?? [],
  };
}

/**
 * Whether the signed-in user may create keys: the server's answer (allowed-permissions
 * `canCreate`, which applies restrictKeyCreation), plus the org settings for the form.
 */
export function useCreatePolicy(orgId: string) {
  const org = useOrg(orgId);
  const allowed = useAllowedPermissions(orgId);
  const settings = org.data?.settings;
  const canCreate = allowed.data?.canCreate ?? false;
  return {
    loading: org.isLoading || allowed.isLoading,
    settings,
    allowed: allowed.data?.items,
    restricted: !!settings?.restrictKeyCreation && !canCreate,
    canCreate,
  };
}
