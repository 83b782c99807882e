import { Badge, Group } from "@mantine/core";
import type { Role, RoleBinding } from "../api/types";

/** Role bindings as badges: "admin", "member @ project". */
export function RoleBindingsText({
  bindings,
  roles,
  name,
}: {
  bindings: RoleBinding[];
  roles: Role[];
  name: (id: string) => string;
}) {
  const roleName = (id: string) => roles.find((r) => r.id === id)?.name ?? id;
  if (!bindings.length) return <>—</>;
  return (
    <Group gap={4}>
      {bindings.map((b) => (
        <Badge key={`${b.roleId}:${b.projectId ?? ""}`} variant="light" tt="none">
          {roleName(b.roleId)}
          {b.projectId ? ` @ ${name(b.projectId)}` : ""}
        </Badge>
      ))}
    </Group>
  );
}

/** Replaces the org-wide bindings, keeping project-scoped ones as they were. */
export function withOrgRoles(bindings: RoleBinding[], orgRoleIds: string[]): RoleBinding[] {
  return [...orgRoleIds.map((roleId) => ({ roleId })), ...bindings.filter((b) => b.projectId)];
}

export const orgRoleIds = (bindings: RoleBinding[]) => bindings.filter((b) => !b.projectId).map((b) => b.roleId);
