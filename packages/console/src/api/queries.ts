import { type QueryClient, useQuery } from "@tanstack/react-query";
import { can, patternsOf } from "../lib/permissions";
import { ApiError, api, listAll } from "./client";
import type {
  AllowedPermissions,
  ApiKey,
  Invitation,
  KeyView,
  Me,
  Member,
  Org,
  Permission,
  Project,
  Role,
  ServiceAccount,
} from "./types";

/** react-query hooks, one per resource. Keys are arrays starting with the resource name. */

export const useMe = () =>
  useQuery({
    queryKey: ["me"],
    queryFn: async () => {
      try {
        return await api<Me>("GET", "/v1/me");
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return null;
        throw e;
      }
    },
    staleTime: 60_000,
  });

/** Drops every cached answer but who is signed in: what one user saw is not shown to the next. */
export const forgetAllButMe = (qc: QueryClient) => qc.removeQueries({ predicate: (q) => q.queryKey[0] !== "me" });

/** Nobody is signed in any more (signed out, or the session ended): nothing of theirs stays. */
export function signedOut(qc: QueryClient) {
  forgetAllButMe(qc);
  qc.setQueryData(["me"], null);
}

export const useOrgs = (enabled = true) =>
  useQuery({
    queryKey: ["orgs"],
    queryFn: () => listAll<Org>("/v1/orgs"),
    enabled,
  });

export const useOrg = (orgId: string) =>
  useQuery({ queryKey: ["org", orgId], queryFn: () => api<Org>("GET", `/v1/orgs/${orgId}`) });

export const usePermissions = () =>
  useQuery({
    queryKey: ["permissions"],
    queryFn: () => api<{ items: Permission[] }>("GET", "/v1/permissions").then((r) => r.items),
    staleTime: 300_000,
  });

export const useProjects = (orgId: string, enabled = true) =>
  useQuery({ queryKey: ["projects", orgId], queryFn: () => listAll<Project>(`/v1/orgs/${orgId}/projects`), enabled });

export const useServiceAccounts = (orgId: string, enabled = true) =>
  useQuery({
    queryKey: ["service-accounts", orgId],
    queryFn: () => listAll<ServiceAccount>(`/v1/orgs/${orgId}/service-accounts`),
    enabled,
  });

export const useRoles = (orgId: string, enabled = true) =>
  useQuery({
    queryKey: ["roles", orgId],
    queryFn: () => listAll<Role>(`/v1/orgs/${orgId}/roles`),
    enabled,
  });

export const useMembers = (orgId: string, enabled = true) =>
  useQuery({ queryKey: ["members", orgId], queryFn: () => listAll<Member>(`/v1/orgs/${orgId}/members`), enabled });

export const useInvitations = (orgId: string, enabled = true) =>
  useQuery({
    queryKey: ["invitations", orgId],
    queryFn: () => listAll<Invitation>(`/v1/orgs/${orgId}/invitations`),
    enabled,
  });

/** The table loads at most this many keys (newest first) and searches/sorts them in the browser. */
export const KEY_LIST_MAX = 2000;

export const useKeys = (orgId: string, view: KeyView) =>
  useQuery({
    queryKey: ["keys", orgId, view],
    queryFn: () => listAll<ApiKey>(`/v1/orgs/${orgId}/api-keys`, { view }, KEY_LIST_MAX),
  });

export const useKey = (keyId: string) =>
  useQuery({ queryKey: ["key", keyId], queryFn: () => api<ApiKey>("GET", `/v1/api-keys/${keyId}`) });

/** What the caller may put on a new key, and whether it may create one at all (DESIGN rule 2, §4). */
export const useAllowedPermissions = (orgId: string, enabled = true) =>
  useQuery({
    queryKey: ["allowed-permissions", orgId],
    queryFn: () => api<AllowedPermissions>("GET", `/v1/orgs/${orgId}/api-keys/allowed-permissions`),
    enabled,
  });

/**
 * The signed-in user's org-wide permission patterns in an org, from their own member record
 * and the org's roles. Used only to decide what to show; the server decides what is allowed.
 */
export function useMyAccess(orgId: string) {
  const me = useMe();
  const userId = me.data?.user?.id;
  const member = useQuery({
    queryKey: ["member", orgId, userId],
    queryFn: () => api<Member>("GET", `/v1/orgs/${orgId}/members/${userId}`),
    enabled: !!userId,
  });
  const roles = useRoles(orgId, !!userId);
  const patterns = member.data && roles.data ? patternsOf(member.data.roles, roles.data) : [];
  const projectPatterns = member.data && roles.data ? patternsOf(member.data.roles, roles.data, false) : [];
  return {
    loading: member.isLoading || roles.isLoading,
    patterns,
    /** Org-wide check. */
    can: (perm: string) => can(patterns, perm),
    /** Held anywhere (org-wide or in some project). */
    canSomewhere: (perm: string) => can(projectPatterns, perm),
    member: member.data,
  };
}
