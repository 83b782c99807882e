import { Alert, Button, Center, Group, Loader, Pagination, Select, Stack, Text, TextInput, Title } from "@mantine/core";
import { useEffect, useState } from "react";
import { useCreatePolicy, useNames } from "../api/names";
import { KEY_LIST_MAX, useKeys, useMyAccess, useOrg } from "../api/queries";
import type { KeyView, KeyWithSecret } from "../api/types";
import { CreateKeyModal } from "../components/CreateKeyModal";
import { KeysTable } from "../components/KeysTable";
import { SecretModal } from "../components/SecretModal";
import { type Sort, pageOf, searchKeys, sortKeys } from "../lib/keys";
import { useLocation } from "../lib/router";

const VIEWS: { value: KeyView; label: string }[] = [
  { value: "mine", label: "My keys" },
  { value: "users", label: "All user keys" },
  { value: "service-accounts", label: "All service-account keys" },
  { value: "projects", label: "Project keys" },
];
const INVITER_VIEWS: { value: KeyView; label: string }[] = [
  { value: "mine", label: "My keys" },
  { value: "users", label: "Keys of people I invited" },
];
const PAGE_SIZE = 20;

/** The keys table with search, sort, pagination, the admin View filter and the create flow. */
export function KeysPage({ orgId }: { orgId: string }) {
  const access = useMyAccess(orgId);
  const admin = access.can("iam:apikeys:manage");
  // With inviterManagesKeys, a member sees the keys of people they invited (down the tree).
  const org = useOrg(orgId);
  const inviter = !admin && org.data?.settings.inviterManagesKeys === true;
  const { search } = useLocation();
  // `?view=sa_…` (linked from a service account or project) shows one principal's keys.
  const urlView = (search.get("view") as KeyView | null) ?? "mine";
  const [view, setView] = useState<KeyView>(urlView);
  const views = admin ? VIEWS : inviter ? INVITER_VIEWS : [];
  const effectiveView =
    admin || (inviter && (views.some((v) => v.value === view) || view.startsWith("usr_"))) ? view : "mine";
  const keys = useKeys(orgId, effectiveView);
  const names = useNames(orgId);
  const policy = useCreatePolicy(orgId);
  const [q, setQ] = useState("");
  const [sort, setSort] = useState<Sort>({ field: "createdAt", dir: "desc" });
  const [page, setPage] = useState(1);
  // Another org, or another link: the view the URL names, not the one chosen before.
  // biome-ignore lint/correctness/useExhaustiveDependencies: orgId is the change to react to
  useEffect(() => {
    setView(urlView);
    setPage(1);
  }, [orgId, urlView]);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<KeyWithSecret | null>(null);

  const rows = sortKeys(searchKeys(keys.data ?? [], q, names.ownerName), sort);
  const paged = pageOf(rows, page, PAGE_SIZE);

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>API keys</Title>
        <Button onClick={() => setCreating(true)} disabled={!policy.canCreate || policy.loading}>
          Create key
        </Button>
      </Group>
      {policy.restricted && (
        <Alert color="yellow" title="Key creation is restricted">
          This organization only lets members whose role explicitly lists iam:apikeys:create create keys.
        </Alert>
      )}
      <Group gap="sm" align="flex-end">
        <TextInput
          label="Search"
          placeholder="Name, key start, owner, IP…"
          value={q}
          onChange={(e) => {
            setQ(e.currentTarget.value);
            setPage(1);
          }}
          w={{ base: "100%", xs: 280 }}
        />
        {views.length > 0 && (
          <Select
            label="View"
            data={
              views.some((v) => v.value === effectiveView)
                ? views
                : [...views, { value: effectiveView, label: `Keys of ${names.name(effectiveView)}` }]
            }
            value={effectiveView}
            onChange={(v) => {
              if (v) setView(v as KeyView);
              setPage(1);
            }}
            allowDeselect={false}
            w={{ base: "100%", xs: 240 }}
          />
        )}
      </Group>
      {keys.isLoading ? (
        <Center p="xl">
          <Loader aria-label="Loading keys" />
        </Center>
      ) : keys.error ? (
        <Alert color="red" role="alert" title="Could not load keys">
          {(keys.error as Error).message}
        </Alert>
      ) : rows.length === 0 ? (
        <Center p="xl">
          <Stack align="center" gap="xs">
            <Text fw={600}>{q ? "No key matches your search" : "No API keys yet"}</Text>
            {!q && (
              <Text c="dimmed" size="sm">
                Create a key to call the platform's API.
              </Text>
            )}
          </Stack>
        </Center>
      ) : (
        <>
          <KeysTable
            orgId={orgId}
            keys={paged.items}
            sort={sort}
            onSort={setSort}
            ownerName={names.ownerName}
            projectName={names.name}
          />
          <Group justify="space-between">
            <Text size="sm" c="dimmed">
              {rows.length} key{rows.length === 1 ? "" : "s"}
              {(keys.data?.length ?? 0) >= KEY_LIST_MAX ? ` (only the newest ${KEY_LIST_MAX} are loaded)` : ""}
            </Text>
            {paged.pages > 1 && (
              <Pagination total={paged.pages} value={paged.page} onChange={setPage} aria-label="Pages" />
            )}
          </Group>
        </>
      )}
      {creating && (
        <CreateKeyModal
          orgId={orgId}
          opened={creating}
          settings={policy.settings}
          onClose={() => setCreating(false)}
          onCreated={(r) => {
            setCreating(false);
            setCreated(r);
          }}
        />
      )}
      <SecretModal secret={created?.secret ?? null} keyName={created?.apiKey.name} onClose={() => setCreated(null)} />
    </Stack>
  );
}
