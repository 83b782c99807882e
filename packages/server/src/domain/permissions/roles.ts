import { IAM_PERMISSIONS } from "./catalog.js";

export interface BuiltinRole {
  id: string;
  name: string;
  description: string;
  permissions: string[];
}

/**
 * The four built-in roles. Their ids are fixed so bindings can name them in every org.
 * `member` gets the operator's chosen product permissions on top of its IAM basics.
 */
export function builtinRoles(memberProductPermissions: readonly string[]): BuiltinRole[] {
  const iamButOrgDelete = IAM_PERMISSIONS.map((p) => p.name).filter((n) => n !== "iam:orgs:delete");
  return [
    { id: "role_owner", name: "owner", description: "Everything", permissions: ["*"] },
    {
      id: "role_admin",
      name: "admin",
      description: "All IAM permissions except deleting the organization",
      permissions: iamButOrgDelete,
    },
    {
      id: "role_member",
      name: "member",
      description: "Own API keys, read projects, and the operator's product permissions",
      permissions: [
        "iam:orgs:read",
        "iam:projects:read",
        "iam:serviceaccounts:read",
        "iam:roles:read",
        "iam:members:read",
        "iam:apikeys:create",
        ...memberProductPermissions,
      ],
    },
    {
      id: "role_viewer",
      name: "viewer",
      description: "Read-only access",
      permissions: ["*:read", "*:list", "*:get"],
    },
  ];
}

export const BUILTIN_ROLE_IDS = new Set(["role_owner", "role_admin", "role_member", "role_viewer"]);
