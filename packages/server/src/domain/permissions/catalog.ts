/** One entry of the permission catalog. */
export interface PermissionDef {
  name: string;
  description: string;
  /** Platform-wide: only the operator org may grant it (e.g. iam:apikeys:verify). */
  platform?: boolean;
}

/** Keyward's own permissions. Operators add theirs in the config file. */
export const IAM_PERMISSIONS: PermissionDef[] = [
  { name: "iam:orgs:read", description: "Read the organization and its settings" },
  { name: "iam:orgs:update", description: "Rename the organization and change its key policy" },
  { name: "iam:orgs:delete", description: "Delete the organization" },
  { name: "iam:members:read", description: "List members and their roles" },
  { name: "iam:members:manage", description: "Change members' roles and remove members" },
  { name: "iam:invitations:create", description: "Invite users into the organization" },
  { name: "iam:projects:read", description: "List and read projects" },
  { name: "iam:projects:create", description: "Create projects" },
  { name: "iam:projects:update", description: "Rename projects" },
  { name: "iam:projects:delete", description: "Delete projects and their keys" },
  { name: "iam:serviceaccounts:read", description: "List and read service accounts" },
  { name: "iam:serviceaccounts:create", description: "Create service accounts" },
  { name: "iam:serviceaccounts:update", description: "Rename service accounts" },
  { name: "iam:serviceaccounts:delete", description: "Delete service accounts and their keys" },
  { name: "iam:roles:read", description: "List and read roles and bindings" },
  { name: "iam:roles:create", description: "Create custom roles" },
  { name: "iam:roles:update", description: "Change custom roles" },
  { name: "iam:roles:delete", description: "Delete custom roles" },
  { name: "iam:bindings:manage", description: "Bind roles to principals" },
  { name: "iam:apikeys:create", description: "Create API keys" },
  {
    name: "iam:apikeys:manage",
    description: "View, disable and delete other principals' API keys",
  },
  {
    name: "iam:apikeys:verify",
    description: "Verify any org's API keys (operator org only)",
    platform: true,
  },
  { name: "iam:audit:read", description: "Read the audit log" },
];

/** Actions that only read. A read-only key may hold nothing else. */
export const READ_ACTIONS = new Set(["read", "list", "get"]);

export function isReadPermission(name: string): boolean {
  const action = name.slice(name.lastIndexOf(":") + 1);
  return READ_ACTIONS.has(action);
}

/** The full catalog: Keyward's own permissions followed by the operator's. */
export function buildCatalog(operatorPermissions: PermissionDef[]): PermissionDef[] {
  const seen = new Set<string>();
  const all: PermissionDef[] = [];
  for (const p of [...IAM_PERMISSIONS, ...operatorPermissions]) {
    if (seen.has(p.name)) continue;
    seen.add(p.name);
    all.push(p);
  }
  return all;
}
