import { notifications } from "@mantine/notifications";
import {
  Alert,
  Button,
  Code,
  Group,
  Modal,
  MultiSelect,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  VisuallyHidden,
} from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api/client";
import { useNames } from "../api/names";
import { useInvitations, useMe, useMembers, useMyAccess, useRoles } from "../api/queries";
import type { Invitation, Member } from "../api/types";
import { ConfirmDeleteModal } from "../components/ConfirmDeleteModal";
import { PageState } from "../components/PageState";
import { RoleBindingsText, orgRoleIds, withOrgRoles } from "../components/RoleBindingsText";
import { copyText } from "../components/SecretModal";
import { formatDate } from "../lib/format";
import { formErrors } from "../lib/problems";
import { emailError } from "../lib/validation";

function InviteForm({ orgId, onInvited }: { orgId: string; onInvited: (link: string) => void }) {
  const qc = useQueryClient();
  const roles = useRoles(orgId);
  const [email, setEmail] = useState("");
  const [roleIds, setRoleIds] = useState<string[]>(["role_member"]);
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const err = emailError(email);
    setErrors({ email: err ?? undefined });
    if (err) return;
    try {
      const r = await api<{ invitation: Invitation; token: string }>("POST", `/v1/orgs/${orgId}/invitations`, {
        body: { email: email.trim(), roles: roleIds.map((roleId) => ({ roleId })) },
      });
      await qc.invalidateQueries({ queryKey: ["invitations", orgId] });
      onInvited(`${window.location.origin}/invite/${r.token}`);
    } catch (x) {
      setErrors(formErrors(x));
    }
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        {errors.form && (
          <Alert color="red" role="alert">
            {errors.form}
          </Alert>
        )}
        <TextInput
          label="Email"
          type="email"
          value={email}
          onChange={(e) => setEmail(e.currentTarget.value)}
          error={errors.email}
          data-autofocus
        />
        <MultiSelect
          searchable
          label="Roles"
          data={(roles.data ?? []).map((r) => ({ value: r.id, label: r.name }))}
          value={roleIds}
          onChange={setRoleIds}
          error={errors.roles}
        />
        <Group justify="flex-end">
          <Button type="submit">Send invitation</Button>
        </Group>
      </Stack>
    </form>
  );
}

function RolesForm({ orgId, member, onDone }: { orgId: string; member: Member; onDone: () => void }) {
  const qc = useQueryClient();
  const roles = useRoles(orgId);
  const [roleIds, setRoleIds] = useState(orgRoleIds(member.roles));
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    try {
      await api("PATCH", `/v1/orgs/${orgId}/members/${member.userId}`, {
        body: { roles: withOrgRoles(member.roles, roleIds) },
      });
      await qc.invalidateQueries({ queryKey: ["members", orgId] });
      await qc.invalidateQueries({ queryKey: ["member", orgId] });
      onDone();
    } catch (x) {
      setError(x instanceof ApiError ? x.message : "Failed");
    }
  };
  return (
    <Stack>
      <MultiSelect
        searchable
        label="Organization roles"
        data={(roles.data ?? []).map((r) => ({ value: r.id, label: r.name }))}
        value={roleIds}
        onChange={setRoleIds}
        error={error}
        data-autofocus
      />
      <Group justify="flex-end">
        <Button onClick={save}>Save roles</Button>
      </Group>
    </Stack>
  );
}

/** Members and invitations: invite, change roles, remove. */
export function MembersPage({ orgId }: { orgId: string }) {
  const qc = useQueryClient();
  const me = useMe();
  const access = useMyAccess(orgId);
  const members = useMembers(orgId);
  const manage = access.can("iam:members:manage");
  const canInvite = access.can("iam:invitations:create");
  const invitations = useInvitations(orgId, canInvite);
  const roles = useRoles(orgId);
  const names = useNames(orgId);
  const [inviting, setInviting] = useState(false);
  const [link, setLink] = useState<string | null>(null);
  const [editing, setEditing] = useState<Member | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const [removeError, setRemoveError] = useState<string | null>(null);

  const remove = async () => {
    if (!removing) return;
    try {
      await api("DELETE", `/v1/orgs/${orgId}/members/${removing.userId}`);
      setRemoving(null);
      await qc.invalidateQueries({ queryKey: ["members", orgId] });
    } catch (x) {
      setRemoveError(x instanceof ApiError ? x.message : "Failed");
    }
  };
  const revoke = async (inv: Invitation) => {
    try {
      await api("DELETE", `/v1/invitations/${inv.id}`);
      notifications.show({ color: "green", message: `Invitation for ${inv.email} revoked` });
    } catch (x) {
      const gone = x instanceof ApiError && x.status === 404;
      notifications.show({
        color: "red",
        message: gone
          ? `The invitation for ${inv.email} was already accepted, revoked or expired`
          : x instanceof ApiError
            ? x.message
            : "Failed",
      });
    }
    // Either way, show the invitations (and members) as they are now.
    await qc.invalidateQueries({ queryKey: ["invitations", orgId] });
    await qc.invalidateQueries({ queryKey: ["members", orgId] });
  };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Members</Title>
        {canInvite && <Button onClick={() => setInviting(true)}>Invite member</Button>}
      </Group>
      <PageState loading={members.isLoading} error={members.error} empty={!members.data?.length} emptyText="No members">
        <Table.ScrollContainer minWidth={760}>
          <Table striped aria-label="Members">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Email</Table.Th>
                <Table.Th>Roles</Table.Th>
                <Table.Th>Invited by</Table.Th>
                <Table.Th>Joined</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {members.data?.map((m) => (
                <Table.Tr key={m.userId}>
                  <Table.Td>{m.name}</Table.Td>
                  <Table.Td>{m.email}</Table.Td>
                  <Table.Td>
                    <RoleBindingsText bindings={m.roles} roles={roles.data ?? []} name={names.name} />
                  </Table.Td>
                  <Table.Td>{m.invitedBy ? names.name(m.invitedBy) : "—"}</Table.Td>
                  <Table.Td>{formatDate(m.joinedAt)}</Table.Td>
                  <Table.Td>
                    {manage && m.userId !== me.data?.user?.id && (
                      <Group gap={4} justify="flex-end" wrap="nowrap">
                        <Button
                          size="xs"
                          variant="subtle"
                          onClick={() => setEditing(m)}
                          aria-label={`Change roles of ${m.email}`}
                        >
                          Roles
                        </Button>
                        <Button
                          size="xs"
                          variant="subtle"
                          color="red"
                          onClick={() => setRemoving(m)}
                          aria-label={`Remove ${m.email}`}
                        >
                          Remove
                        </Button>
                      </Group>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </PageState>
      {canInvite && (
        <>
          <Title order={3} size="h4">
            Pending invitations
          </Title>
          <PageState
            loading={invitations.isLoading}
            error={invitations.error}
            empty={!invitations.data?.length}
            emptyText="No pending invitations"
          >
            <Table.ScrollContainer minWidth={600}>
              <Table aria-label="Pending invitations">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Email</Table.Th>
                    <Table.Th>Roles</Table.Th>
                    <Table.Th>Expires</Table.Th>
                    <Table.Th>
                      <VisuallyHidden>Actions</VisuallyHidden>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {invitations.data?.map((i) => (
                    <Table.Tr key={i.id}>
                      <Table.Td>{i.email}</Table.Td>
                      <Table.Td>
                        <RoleBindingsText bindings={i.roles} roles={roles.data ?? []} name={names.name} />
                      </Table.Td>
                      <Table.Td>{formatDate(i.expiresAt)}</Table.Td>
                      <Table.Td>
                        <Button
                          size="xs"
                          variant="subtle"
                          color="red"
                          onClick={() => revoke(i)}
                          aria-label={`Revoke invitation for ${i.email}`}
                        >
                          Revoke
                        </Button>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          </PageState>
        </>
      )}
      <Modal
        opened={inviting}
        onClose={() => {
          setInviting(false);
          setLink(null);
        }}
        title="Invite member"
      >
        {link ? (
          <Stack>
            <Text size="sm">Send this link to the invitee. It is shown only now.</Text>
            <Code block data-testid="invitation-link" style={{ wordBreak: "break-all", whiteSpace: "pre-wrap" }}>
              {link}
            </Code>
            <Group justify="space-between">
              <Button onClick={() => copyText(link)}>Copy link</Button>
              <Button
                variant="default"
                onClick={() => {
                  setInviting(false);
                  setLink(null);
                }}
              >
                Done
              </Button>
            </Group>
          </Stack>
        ) : (
          <InviteForm orgId={orgId} onInvited={setLink} />
        )}
      </Modal>
      <Modal opened={!!editing} onClose={() => setEditing(null)} title={`Roles of ${editing?.email ?? ""}`}>
        {editing && <RolesForm orgId={orgId} member={editing} onDone={() => setEditing(null)} />}
      </Modal>
      <ConfirmDeleteModal
        opened={!!removing}
        title={`Remove ${removing?.email ?? ""}?`}
        message="Their keys in this organization stop working at once."
        onCancel={() => setRemoving(null)}
        onConfirm={remove}
        error={removeError}
      />
    </Stack>
  );
}
