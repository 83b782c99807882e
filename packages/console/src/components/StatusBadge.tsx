import { Badge } from "@mantine/core";
import type { KeyStatus } from "../lib/keys";

const COLORS: Record<KeyStatus, string> = { active: "green", disabled: "gray", expired: "orange" };

export function StatusBadge({ status }: { status: KeyStatus }) {
  return (
    <Badge color={COLORS[status]} variant="light">
      {status}
    </Badge>
  );
}
