import { Button, Checkbox, Fieldset, Group, SimpleGrid, Stack, Text } from "@mantine/core";
import type { Permission } from "../api/types";
import { type BulkKind, allSelected, groupByProduct, isRead, toggleAll } from "../lib/permissions";

const KINDS: { kind: BulkKind; label: string }[] = [
  { kind: "read", label: "Read" },
  { kind: "write", label: "Write" },
  { kind: "delete", label: "Delete" },
];

/**
 * Permissions grouped by product with per-group and bulk Read/Write/Delete toggles.
 * `permissions` is what may be offered (e.g. allowed-permissions); `readOnly` disables writes.
 */
export function PermissionPicker({
  permissions,
  value,
  onChange,
  readOnly = false,
  error,
  legend = "Permissions",
}: {
  permissions: Permission[];
  value: string[];
  onChange: (v: string[]) => void;
  readOnly?: boolean;
  error?: string | null;
  legend?: string;
}) {
  const offered = permissions.filter((p) => !readOnly || isRead(p.name));
  const all = offered.map((p) => p.name);
  const groups = groupByProduct(offered);

  return (
    <Fieldset legend={legend} aria-invalid={!!error}>
      <Stack gap="sm">
        <Group gap="xs">
          {KINDS.map(({ kind, label }) => (
            <Button
              key={kind}
              size="xs"
              variant={allSelected(value, all, kind) ? "filled" : "default"}
              onClick={() => onChange(toggleAll(value, all, kind))}
              disabled={!all.some((p) => toggleAll([], [p], kind).length)}
            >
              {label} all
            </Button>
          ))}
          <Button size="xs" variant="subtle" onClick={() => onChange([])} disabled={value.length === 0}>
            Clear
          </Button>
        </Group>
        {error && (
          <Text c="red" size="sm" role="alert">
            {error}
          </Text>
        )}
        {groups.length === 0 && (
          <Text size="sm" c="dimmed">
            No permissions you could grant.
          </Text>
        )}
        {groups.map((g) => {
          const names = g.permissions.map((p) => p.name);
          return (
            <Stack key={g.product} gap={6} role="group" aria-label={`${g.product} permissions`}>
              <Group justify="space-between" gap="xs">
                <Text fw={600} size="sm">
                  {g.product}
                </Text>
                <Group gap={4}>
                  {KINDS.map(({ kind, label }) =>
                    toggleAll([], names, kind).length ? (
                      <Button
                        key={kind}
                        size="compact-xs"
                        variant={allSelected(value, names, kind) ? "light" : "subtle"}
                        onClick={() => onChange(toggleAll(value, names, kind))}
                        aria-label={`${label} all ${g.product}`}
                      >
                        {label}
                      </Button>
                    ) : null,
                  )}
                </Group>
              </Group>
              <SimpleGrid cols={{ base: 1, sm: 2 }} spacing={4}>
                {g.permissions.map((p) => (
                  <Checkbox
                    key={p.name}
                    label={p.name}
                    description={p.description}
                    checked={value.includes(p.name)}
                    onChange={(e) =>
                      onChange(e.currentTarget.checked ? [...value, p.name] : value.filter((x) => x !== p.name))
                    }
                  />
                ))}
              </SimpleGrid>
            </Stack>
          );
        })}
      </Stack>
    </Fieldset>
  );
}
