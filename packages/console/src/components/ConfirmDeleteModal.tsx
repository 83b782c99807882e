import { Button, Group, Modal, Stack, Text, TextInput } from "@mantine/core";
import { useEffect, useState } from "react";

/** A destructive action confirmed by typing DELETE (DESIGN §8). */
export function ConfirmDeleteModal({
  opened,
  title,
  message,
  onCancel,
  onConfirm,
  busy,
  error,
}: {
  opened: boolean;
  title: string;
  message: string;
  onCancel: () => void;
  onConfirm: () => void;
  busy?: boolean;
  error?: string | null;
}) {
  const [typed, setTyped] = useState("");
  // Each opening starts empty: a DELETE typed for one item must not pre-confirm the next.
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new title is a new item to confirm
  useEffect(() => {
    if (opened) setTyped("");
  }, [opened, title]);
  const cancel = () => {
    setTyped("");
    onCancel();
  };
  return (
    <Modal opened={opened} onClose={cancel} title={title}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (typed === "DELETE") onConfirm();
        }}
      >
        <Stack>
          <Text size="sm">{message}</Text>
          <TextInput
            label="Type DELETE to confirm"
            value={typed}
            onChange={(e) => setTyped(e.currentTarget.value)}
            autoComplete="off"
            error={error}
            data-autofocus
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={cancel}>
              Cancel
            </Button>
            <Button type="submit" color="red" disabled={typed !== "DELETE"} loading={busy}>
              Delete
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
