import {
  Button,
  Group,
  Modal,
  MultiSelect,
  Stack,
  Table,
  TextInput,
  Textarea,
  Title,
  VisuallyHidden,
} from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api/client";
import { useNames } from "../api/names";
import { useMyAccess, useRoles, useServiceAccounts } from "../api/queries";
import type { ServiceAccount } from "../api/types";
import { ConfirmDeleteModal } from "../components/ConfirmDeleteModal";
import { PageState } from "../components/PageState";
import { RoleBindingsText, orgRoleIds, withOrgRoles } from "../components/RoleBindingsText";
import { formatDate } from "../lib/format";
import { formErrors } from "../lib/problems";
import { nameError } from "../lib/validation";
import { RowActions } from "../components/RowActions";

function SaForm({ orgId, sa, onDone }: { orgId: string; sa?: ServiceAccount; onDone: () => void }) {
  const qc = useQueryClient();
  const roles = useRoles(orgId);
  const [name, setName] = useState(sa?.name ?? "");
  const [description, setDescription] = useState(sa?.description ?? "");
  const [roleIds, setRoleIds] = useState<string[]>(sa ? orgRoleIds(sa.roles) : []);
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const n = nameError(name);
    setErrors({ name: n ?? undefined });
    if (n) return;
    try {
      const body = { name: name.trim(), description, roles: withOrgRoles(sa?.roles ?? [], roleIds) };
      if (sa) await api("PATCH", `/v1/service-accounts/${sa.id}`, { body });
      else await api("POST", `/v1/orgs/${orgId}/service-accounts`, { body });
      await qc.invalidateQueries({ queryKey: ["service-accounts", orgId] });
      onDone();
    } catch (err) {
      setErrors(formErrors(err));
    }
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <TextInput
          label="Name"
          required
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={errors.name ?? errors.form}
          data-autofocus
        />
        <Textarea
          label="Description"
          value={description}
          onChange={(e) => setDescription(e.currentTarget.value)}
          error={errors.description}
        />
        <MultiSelect
          searchable
          label="Roles (organization-wide)"
          data={(roles.data ?? []).map((r) => ({ value: r.id, label: r.name }))}
          value={roleIds}
          onChange={setRoleIds}
          error={errors.roles}
        />
        <Group justify="flex-end">
          <Button type="submit">{sa ? "Save" : "Create service account"}</Button>
        </Group>
      </Stack>
    </form>
  );
}

/** Service accounts: non-human identities that own keys. */
export function ServiceAccountsPage({ orgId }: { orgId: string }) {
  const qc = useQueryClient();
  const access = useMyAccess(orgId);
  const sas = useServiceAccounts(orgId);
  const roles = useRoles(orgId);
  const names = useNames(orgId);
  const manageKeys = access.can("iam:apikeys:manage");
  const [editing, setEditing] = useState<ServiceAccount | "new" | null>(null);
  const [deleting, setDeleting] = useState<ServiceAccount | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);

  const remove = async () => {
    if (!deleting) return;
    try {
      await api("DELETE", `/v1/service-accounts/${deleting.id}`);
      setDeleting(null);
      await qc.invalidateQueries({ queryKey: ["service-accounts", orgId] });
    } catch (err) {
      setDeleteError(err instanceof ApiError ? err.message : "Failed");
    }
  };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Service accounts</Title>
        {access.can("iam:serviceaccounts:create") && (
          <Button onClick={() => setEditing("new")}>Create service account</Button>
        )}
      </Group>
      <PageState
        loading={sas.isLoading}
        error={sas.error}
        empty={!sas.data?.length}
        emptyText="No service accounts yet"
      >
        <Table.ScrollContainer minWidth={700}>
          <Table striped aria-label="Service accounts">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Description</Table.Th>
                <Table.Th>Roles</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {sas.data?.map((s) => (
                <Table.Tr key={s.id}>
                  <Table.Td>{s.name}</Table.Td>
                  <Table.Td>{s.description}</Table.Td>
                  <Table.Td>
                    <RoleBindingsText bindings={s.roles} roles={roles.data ?? []} name={names.name} />
                  </Table.Td>
                  <Table.Td>{formatDate(s.createdAt)}</Table.Td>
                  <Table.Td>
                    <RowActions
                      name={s.name}
                      keysHref={manageKeys ? `/o/${orgId}/keys?view=${s.id}` : undefined}
                      onEdit={() => setEditing(s)}
                      onDelete={() => setDeleting(s)}
                    />
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
        title={editing === "new" ? "Create service account" : "Edit service account"}
      >
        {editing && (
          <SaForm orgId={orgId} sa={editing === "new" ? undefined : editing} onDone={() => setEditing(null)} />
        )}
      </Modal>
      <ConfirmDeleteModal
        opened={!!deleting}
        title={`Delete service account ${deleting?.name ?? ""}?`}
        message="The service account and all of its keys are deleted."
        onCancel={() => setDeleting(null)}
        onConfirm={remove}
        error={deleteError}
      />
    </Stack>
  );
}
