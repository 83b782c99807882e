import { Button, Group } from "@mantine/core";
import { Link } from "../lib/router";

/** The Keys / Edit / Delete buttons at the end of a resource row, labelled with the row's name. */
export function RowActions(props: { name: string; keysHref?: string; onEdit: () => void; onDelete: () => void }) {
  const { name, keysHref, onEdit, onDelete } = props;
  return (
    <Group gap={4} justify="flex-end" wrap="nowrap">
      {keysHref && (
        <Button size="xs" variant="subtle" component={Link} to={keysHref} aria-label={`Keys of ${name}`}>
          Keys
        </Button>
      )}
      <Button size="xs" variant="subtle" onClick={onEdit} aria-label={`Edit ${name}`}>
        Edit
      </Button>
      <Button size="xs" variant="subtle" color="red" onClick={onDelete} aria-label={`Delete ${name}`}>
        Delete
      </Button>
    </Group>
  );
}
