import { Anchor, Badge, Code, Table, Text, UnstyledButton } from "@mantine/core";
import type { ApiKey } from "../api/types";
import { formatDate, ownerTypeLabel, relative } from "../lib/format";
import { type Sort, type SortField, keyStatus } from "../lib/keys";
import { permissionSummary } from "../lib/permissions";
import { Link } from "../lib/router";
import { StatusBadge } from "./StatusBadge";

function SortHeader({
  field,
  label,
  sort,
  onSort,
}: {
  field: SortField;
  label: string;
  sort: Sort;
  onSort: (s: Sort) => void;
}) {
  const active = sort.field === field;
  return (
    <Table.Th aria-sort={active ? (sort.dir === "asc" ? "ascending" : "descending") : "none"}>
      <UnstyledButton
        onClick={() => onSort({ field, dir: active && sort.dir === "asc" ? "desc" : "asc" })}
        fw={600}
        fz="sm"
      >
        {label} {active ? (sort.dir === "asc" ? "▲" : "▼") : ""}
      </UnstyledButton>
    </Table.Th>
  );
}

/** The keys table (DESIGN §8): one row per key, sortable headers. */
export function KeysTable({
  orgId,
  keys,
  sort,
  onSort,
  ownerName,
  projectName,
}: {
  orgId: string;
  keys: ApiKey[];
  sort: Sort;
  onSort: (s: Sort) => void;
  ownerName: (k: ApiKey) => string;
  projectName: (id: string) => string;
}) {
  const now = new Date();
  return (
    <Table.ScrollContainer minWidth={980}>
      <Table striped highlightOnHover verticalSpacing="xs" horizontalSpacing="xs" fz="sm" aria-label="API keys">
        <Table.Thead>
          <Table.Tr>
            <SortHeader field="name" label="Name" sort={sort} onSort={onSort} />
            <Table.Th>Key</Table.Th>
            <Table.Th>Owner</Table.Th>
            <Table.Th>Permissions</Table.Th>
            <Table.Th>Projects</Table.Th>
            <Table.Th>IP restrictions</Table.Th>
            <SortHeader field="createdAt" label="Created" sort={sort} onSort={onSort} />
            <SortHeader field="lastUsedAt" label="Last used" sort={sort} onSort={onSort} />
            <SortHeader field="expiresAt" label="Expires" sort={sort} onSort={onSort} />
            <SortHeader field="status" label="Status" sort={sort} onSort={onSort} />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {keys.map((k) => (
            <Table.Tr key={k.id} data-key-id={k.id}>
              <Table.Td>
                <Anchor component={Link} to={`/o/${orgId}/keys/${k.id}`} fw={500}>
                  {k.name}
                </Anchor>
              </Table.Td>
              <Table.Td>
                <Code>{k.start}…</Code>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{ownerName(k)}</Text>
                <Text size="xs" c="dimmed">
                  {ownerTypeLabel[k.owner.type] ?? k.owner.type}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{permissionSummary(k)}</Text>
                {k.readOnly && (
                  <Badge size="xs" color="blue" variant="outline">
                    read-only
                  </Badge>
                )}
              </Table.Td>
              <Table.Td>
                <Text size="sm">
                  {k.allowedProjects?.length ? k.allowedProjects.map(projectName).join(", ") : "All"}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{k.allowedIps?.length ? k.allowedIps.join(", ") : "Any"}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{formatDate(k.createdAt)}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm" title={k.lastUsedAt ?? undefined}>
                  {relative(k.lastUsedAt, now)}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{k.expiresAt ? formatDate(k.expiresAt) : "Never"}</Text>
              </Table.Td>
              <Table.Td>
                <StatusBadge status={keyStatus(k, now)} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
