import {
  Badge,
  Button,
  Group,
  Modal,
  Stack,
  Table,
  Text,
  TextInput,
  Textarea,
  Title,
  VisuallyHidden,
} from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api/client";
import { useMyAccess, useOrg, usePermissions, useRoles } from "../api/queries";
import type { Role } from "../api/types";
import { ConfirmDeleteModal } from "../components/ConfirmDeleteModal";
import { PageState } from "../components/PageState";
import { PermissionPicker } from "../components/PermissionPicker";
import { formErrors } from "../lib/problems";
import { nameError } from "../lib/validation";
import { RowActions } from "../components/RowActions";

function RoleForm({ orgId, role, onDone }: { orgId: string; role?: Role; onDone: () => void }) {
  const qc = useQueryClient();
  const org = useOrg(orgId);
  const catalog = usePermissions();
  const [name, setName] = useState(role?.name ?? "");
  const [description, setDescription] = useState(role?.description ?? "");
  const [perms, setPerms] = useState<string[]>(role?.permissions ?? []);
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const offered = (catalog.data ?? []).filter((p) => !p.platform || org.data?.isOperator);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const errs = {
      name: nameError(name) ?? undefined,
      permissions: perms.length ? undefined : "Pick at least one permission",
    };
    setErrors(errs);
    if (errs.name || errs.permissions) return;
    try {
      const body = { name: name.trim(), description, permissions: perms };
      if (role) await api("PATCH", `/v1/roles/${role.id}`, { body });
      else await api("POST", `/v1/orgs/${orgId}/roles`, { body });
      await qc.invalidateQueries({ queryKey: ["roles", orgId] });
      onDone();
    } catch (x) {
      setErrors(formErrors(x));
    }
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        {errors.form && (
          <Text c="red" role="alert">
            {errors.form}
          </Text>
        )}
        <TextInput
          label="Name"
          required
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={errors.name}
          data-autofocus
        />
        <Textarea
          label="Description"
          value={description}
          onChange={(e) => setDescription(e.currentTarget.value)}
          error={errors.description}
        />
        <PermissionPicker permissions={offered} value={perms} onChange={setPerms} error={errors.permissions} />
        <Group justify="flex-end">
          <Button type="submit">{role ? "Save role" : "Create role"}</Button>
        </Group>
      </Stack>
    </form>
  );
}

/** Built-in and custom roles; custom ones are edited with the permission picker. */
export function RolesPage({ orgId }: { orgId: string }) {
  const qc = useQueryClient();
  const access = useMyAccess(orgId);
  const roles = useRoles(orgId);
  const [editing, setEditing] = useState<Role | "new" | null>(null);
  const [deleting, setDeleting] = useState<Role | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const remove = async () => {
    if (!deleting) return;
    try {
      await api("DELETE", `/v1/roles/${deleting.id}`);
      setDeleting(null);
      await qc.invalidateQueries({ queryKey: ["roles", orgId] });
    } catch (x) {
      setDeleteError(x instanceof ApiError ? x.message : "Failed");
    }
  };
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Roles</Title>
        {access.can("iam:roles:create") && <Button onClick={() => setEditing("new")}>Create role</Button>}
      </Group>
      <PageState loading={roles.isLoading} error={roles.error} empty={!roles.data?.length} emptyText="No roles">
        <Table.ScrollContainer minWidth={700}>
          <Table striped aria-label="Roles">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Description</Table.Th>
                <Table.Th>Permissions</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {roles.data?.map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Td>
                    {r.name}{" "}
                    {r.builtin && (
                      <Badge size="xs" variant="outline">
                        built-in
                      </Badge>
                    )}
                  </Table.Td>
                  <Table.Td>{r.description}</Table.Td>
                  <Table.Td>
                    <Text size="sm" lineClamp={2}>
                      {r.permissions.join(", ")}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    {!r.builtin && (
                      <RowActions name={r.name} onEdit={() => setEditing(r)} onDelete={() => setDeleting(r)} />
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </PageState>
      <Modal
        opened={!!editing}
        onClose={() => setEditing(null)}
        title={editing === "new" ? "Create role" : "Edit role"}
        size="xl"
      >
        {editing && (
          <RoleForm orgId={orgId} role={editing === "new" ? undefined : editing} onDone={() => setEditing(null)} />
        )}
      </Modal>
      <ConfirmDeleteModal
        opened={!!deleting}
        title={`Delete role ${deleting?.name ?? ""}?`}
        message="Bindings to this role are removed; keys that relied on it lose those permissions."
        onCancel={() => setDeleting(null)}
        onConfirm={remove}
        error={deleteError}
      />
    </Stack>
  );
}
