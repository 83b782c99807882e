import {
  Alert,
  Anchor,
  Badge,
  Button,
  Card,
  Center,
  Code,
  Group,
  Loader,
  SimpleGrid,
  Stack,
  Text,
  Title,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useQueryClient } from "@tanstack/react-query";
import { Suspense, lazy, useState } from "react";
import { ApiError, api } from "../api/client";
import { useNames } from "../api/names";
import { useKey } from "../api/queries";
import type { ApiKey, KeyWithSecret } from "../api/types";
import { ConfirmDeleteModal } from "../components/ConfirmDeleteModal";
import { KeyEditForm } from "../components/KeyEditForm";
import { RegenerateModal } from "../components/RegenerateModal";
import { SecretModal } from "../components/SecretModal";
import { StatusBadge } from "../components/StatusBadge";
import { formatDate, ownerTypeLabel, rateLimitText, relative } from "../lib/format";
import { keyStatus } from "../lib/keys";
import { Link, navigate } from "../lib/router";

// Charts (recharts) load only when a key's page is opened.
const KeyUsage = lazy(() => import("../components/KeyUsage"));

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" component="div">
        {children}
      </Text>
    </div>
  );
}

/** One key: facts, edit form, regenerate, disable/enable, delete, usage. */
export function KeyDetailsPage({ orgId, keyId }: { orgId: string; keyId: string }) {
  const qc = useQueryClient();
  const key = useKey(keyId);
  const names = useNames(orgId);
  const [regenerating, setRegenerating] = useState(false);
  const [secret, setSecret] = useState<KeyWithSecret | null>(null);
  const [deleting, setDeleting] = useState(false);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (key.isLoading) {
    return (
      <Center p="xl">
        <Loader aria-label="Loading key" />
      </Center>
    );
  }
  if (key.error || !key.data) {
    return (
      <Alert color="red" title="Could not load the key" role="alert">
        {(key.error as Error)?.message ?? "Not found"}{" "}
        <Anchor component={Link} to={`/o/${orgId}/keys`}>
          Back to keys
        </Anchor>
      </Alert>
    );
  }
  const k = key.data;
  const status = keyStatus(k, new Date());

  const refresh = (updated?: ApiKey) => {
    if (updated) qc.setQueryData(["key", keyId], updated);
    else qc.invalidateQueries({ queryKey: ["key", keyId] });
    qc.invalidateQueries({ queryKey: ["keys", orgId] });
  };

  const toggle = async () => {
    setBusy(true);
    try {
      const action = k.status === "disabled" ? "enable" : "disable";
      const res = await api<ApiKey | { apiKey: ApiKey } | undefined>("POST", `/v1/api-keys/${k.id}/${action}`);
      refresh(res && "apiKey" in res ? res.apiKey : (res as ApiKey | undefined));
      notifications.show({ color: "green", message: action === "enable" ? "Key enabled" : "Key disabled" });
    } catch (err) {
      notifications.show({ color: "red", message: err instanceof ApiError ? err.message : "Failed" });
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setBusy(true);
    setDeleteError(null);
    try {
      await api("DELETE", `/v1/api-keys/${k.id}`, { ifMatch: k.version });
      qc.removeQueries({ queryKey: ["key", keyId] });
      await qc.invalidateQueries({ queryKey: ["keys", orgId] });
      notifications.show({ color: "green", message: `Key ${k.name} deleted` });
      navigate(`/o/${orgId}/keys`);
    } catch (err) {
      setDeleteError(err instanceof ApiError ? err.message : "Could not delete the key");
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack>
      <Anchor component={Link} to={`/o/${orgId}/keys`} size="sm">
        ← API keys
      </Anchor>
      <Group justify="space-between" align="flex-start">
        <Group gap="sm">
          <Title order={2}>{k.name}</Title>
          <StatusBadge status={status} />
          {k.readOnly && <Badge variant="outline">read-only</Badge>}
        </Group>
        <Group gap="xs">
          <Button variant="default" onClick={() => setRegenerating(true)}>
            Regenerate
          </Button>
          <Button variant="default" onClick={toggle} loading={busy && !deleting}>
            {k.status === "disabled" ? "Enable" : "Disable"}
          </Button>
          <Button color="red" variant="light" onClick={() => setDeleting(true)}>
            Delete
          </Button>
        </Group>
      </Group>
      <Card withBorder>
        <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }}>
          <Fact label="Key id">
            <Code>{k.id}</Code>
          </Fact>
          <Fact label="Secret starts with">
            <Code>{k.start}…</Code>
          </Fact>
          <Fact label="Owner">
            {names.ownerName(k)} ({ownerTypeLabel[k.owner.type] ?? k.owner.type})
          </Fact>
          <Fact label="Permissions">
            {[...(k.permissions ?? []), ...(k.roles ?? []).map((r) => `role ${r.replace(/^role_/, "")}`)].join(", ") ||
              "All of the owner's"}
          </Fact>
          <Fact label="Created">
            {formatDate(k.createdAt, true)} by {names.name(k.createdBy)}
          </Fact>
          <Fact label="Last used">
            {k.lastUsedAt ? `${relative(k.lastUsedAt)}${k.lastUsedIp ? ` from ${k.lastUsedIp}` : ""}` : "Never"}
          </Fact>
          <Fact label="Expires">{k.expiresAt ? formatDate(k.expiresAt, true) : "Never"}</Fact>
          <Fact label="Rate limit">{rateLimitText(k.ratelimit)}</Fact>
          <Fact label="Status">{status}</Fact>
          {k.previousSecretExpiresAt && (
            <Fact label="Previous secret works until">{formatDate(k.previousSecretExpiresAt, true)}</Fact>
          )}
        </SimpleGrid>
      </Card>
      <Card withBorder>
        <Title order={3} size="h4" mb="sm">
          Settings
        </Title>
        {/* Started again when a setting it edits changes (someone saved), not on a disable or a
            regenerate, which would throw away what was being typed. */}
        <KeyEditForm key={editedFields(k)} apiKey={k} projects={names.projects} />
      </Card>
      <Card withBorder>
        <Title order={3} size="h4" mb="sm">
          Usage
        </Title>
        <Suspense fallback={<Loader size="sm" aria-label="Loading usage" />}>
          <KeyUsage keyId={k.id} />
        </Suspense>
      </Card>
      <RegenerateModal
        keyId={k.id}
        opened={regenerating}
        onClose={() => setRegenerating(false)}
        onDone={(r) => {
          setRegenerating(false);
          setSecret(r);
          refresh(r.apiKey);
        }}
      />
      <SecretModal secret={secret?.secret ?? null} keyName={k.name} onClose={() => setSecret(null)} />
      <ConfirmDeleteModal
        opened={deleting}
        title={`Delete ${k.name}?`}
        message="Requests using this key will fail at once. This cannot be undone."
        onCancel={() => setDeleting(false)}
        onConfirm={remove}
        busy={busy}
        error={deleteError}
      />
    </Stack>
  );
}

/** The settings the edit form shows: when one of them changes, the form starts from the key again. */
const editedFields = (k: ApiKey) =>
  JSON.stringify([
    k.name,
    k.description,
    k.permissions,
    k.roles,
    k.readOnly,
    k.allowedProjects,
    k.allowedIps,
    k.defaultProjectId,
    k.expiresAt,
    k.ratelimit,
  ]);
