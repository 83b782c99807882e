import { Button, Group, Modal, Stack, Table, TextInput, Textarea, Title, VisuallyHidden } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api/client";
import { useMyAccess, useProjects } from "../api/queries";
import type { Project } from "../api/types";
import { ConfirmDeleteModal } from "../components/ConfirmDeleteModal";
import { PageState } from "../components/PageState";
import { formatDate } from "../lib/format";
import { formErrors } from "../lib/problems";
import { nameError } from "../lib/validation";
import { RowActions } from "../components/RowActions";

function ProjectForm({ orgId, project, onDone }: { orgId: string; project?: Project; onDone: () => void }) {
  const qc = useQueryClient();
  const [name, setName] = useState(project?.name ?? "");
  const [description, setDescription] = useState(project?.description ?? "");
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const n = nameError(name);
    setErrors({ name: n ?? undefined });
    if (n) return;
    try {
      const body = { name: name.trim(), description };
      if (project) await api("PATCH", `/v1/projects/${project.id}`, { body });
      else await api("POST", `/v1/orgs/${orgId}/projects`, { body });
      await qc.invalidateQueries({ queryKey: ["projects", orgId] });
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
        <Group justify="flex-end">
          <Button type="submit">{project ? "Save" : "Create project"}</Button>
        </Group>
      </Stack>
    </form>
  );
}

/** Projects: list, create, rename, delete (which deletes their keys). */
export function ProjectsPage({ orgId }: { orgId: string }) {
  const qc = useQueryClient();
  const access = useMyAccess(orgId);
  const projects = useProjects(orgId);
  const [editing, setEditing] = useState<Project | "new" | null>(null);
  const [deleting, setDeleting] = useState<Project | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);

  const remove = async () => {
    if (!deleting) return;
    try {
      await api("DELETE", `/v1/projects/${deleting.id}`);
      setDeleting(null);
      await qc.invalidateQueries({ queryKey: ["projects", orgId] });
    } catch (err) {
      setDeleteError(err instanceof ApiError ? err.message : "Failed");
    }
  };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Projects</Title>
        {access.can("iam:projects:create") && <Button onClick={() => setEditing("new")}>Create project</Button>}
      </Group>
      <PageState
        loading={projects.isLoading}
        error={projects.error}
        empty={!projects.data?.length}
        emptyText="No projects yet"
      >
        <Table.ScrollContainer minWidth={600}>
          <Table striped aria-label="Projects">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Description</Table.Th>
                <Table.Th>Id</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {projects.data?.map((p) => (
                <Table.Tr key={p.id}>
                  <Table.Td>{p.name}</Table.Td>
                  <Table.Td>{p.description}</Table.Td>
                  <Table.Td>{p.id}</Table.Td>
                  <Table.Td>{formatDate(p.createdAt)}</Table.Td>
                  <Table.Td>
                    <RowActions
                      name={p.name}
                      keysHref={access.can("iam:apikeys:manage") ? `/o/${orgId}/keys?view=${p.id}` : undefined}
                      onEdit={() => setEditing(p)}
                      onDelete={() => setDeleting(p)}
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
        title={editing === "new" ? "Create project" : "Edit project"}
      >
        {editing && (
          <ProjectForm
            orgId={orgId}
            project={editing === "new" ? undefined : editing}
            onDone={() => setEditing(null)}
          />
        )}
      </Modal>
      <ConfirmDeleteModal
        opened={!!deleting}
        title={`Delete project ${deleting?.name ?? ""}?`}
        message="The project and all of its keys are deleted."
        onCancel={() => setDeleting(null)}
        onConfirm={remove}
        error={deleteError}
      />
    </Stack>
  );
}
