import { Badge, Button, Group, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { DateInput } from "@mantine/dates";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../api/client";
import { useNames } from "../api/names";
import type { Page } from "../api/types";
import { PageState } from "../components/PageState";
import { type AuditFilters, auditQuery, auditRow } from "../lib/audit";
import { formatDate } from "../lib/format";

const EMPTY: AuditFilters = { actor: "", action: "", target: "", from: null, to: null };
const RESULT_COLOR: Record<string, string> = { success: "green", denied: "orange", failure: "red" };

/** The org's audit log, filterable by actor, action, target and time. */
export function AuditPage({ orgId }: { orgId: string }) {
  const names = useNames(orgId);
  const [draft, setDraft] = useState<AuditFilters>(EMPTY);
  const [filters, setFilters] = useState<AuditFilters>(EMPTY);
  const events = useInfiniteQuery({
    queryKey: ["audit", orgId, filters],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      api<Page<Record<string, unknown>>>("GET", `/v1/orgs/${orgId}/audit-events`, {
        query: { ...auditQuery(filters), limit: 50, cursor: pageParam },
      }),
    getNextPageParam: (last) => last.nextCursor ?? null,
  });
  const rows = (events.data?.pages ?? []).flatMap((p) => p.items).map(auditRow);

  return (
    <Stack>
      <Title order={2}>Audit log</Title>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
        aria-label="Audit filters"
      >
        <Group align="flex-end" gap="sm">
          <TextInput
            label="Actor"
            placeholder="usr_…, sa_… or key_…"
            value={draft.actor}
            onChange={(e) => setDraft({ ...draft, actor: e.currentTarget.value })}
            w={170}
          />
          <TextInput
            label="Action"
            placeholder="apikey.create"
            value={draft.action}
            onChange={(e) => setDraft({ ...draft, action: e.currentTarget.value })}
            w={170}
          />
          <TextInput
            label="Target"
            placeholder="key_…"
            value={draft.target}
            onChange={(e) => setDraft({ ...draft, target: e.currentTarget.value })}
            w={170}
          />
          <DateInput
            label="From"
            valueFormat="YYYY-MM-DD"
            placeholder="YYYY-MM-DD"
            value={draft.from}
            onChange={(d) => setDraft({ ...draft, from: d })}
            clearable
            w={150}
          />
          <DateInput
            label="To"
            valueFormat="YYYY-MM-DD"
            placeholder="YYYY-MM-DD"
            value={draft.to}
            onChange={(d) => setDraft({ ...draft, to: d })}
            clearable
            w={150}
          />
          <Button type="submit">Filter</Button>
          <Button
            variant="subtle"
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
            }}
          >
            Reset
          </Button>
        </Group>
      </form>
      <PageState loading={events.isLoading} error={events.error} empty={rows.length === 0} emptyText="No events match">
        <Table.ScrollContainer minWidth={900}>
          <Table striped aria-label="Audit events">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Time</Table.Th>
                <Table.Th>Actor</Table.Th>
                <Table.Th>Action</Table.Th>
                <Table.Th>Target</Table.Th>
                <Table.Th>Result</Table.Th>
                <Table.Th>IP</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Td>{formatDate(r.at, true)}</Table.Td>
                  <Table.Td>
                    {r.actor ? names.name(r.actor) : "system"}
                    {r.via && (
                      <Text size="xs" c="dimmed" ff="monospace">
                        via {r.via}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm" ff="monospace">
                      {r.action}
                    </Text>
                  </Table.Td>
                  <Table.Td>{r.target}</Table.Td>
                  <Table.Td>
                    <Badge color={RESULT_COLOR[r.result] ?? "gray"} variant="light">
                      {r.result}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{r.ip || "—"}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
        {events.hasNextPage && (
          <Group justify="center">
            <Button variant="default" onClick={() => events.fetchNextPage()} loading={events.isFetchingNextPage}>
              Load more
            </Button>
          </Group>
        )}
      </PageState>
    </Stack>
  );
}
