import { Alert, Button, Group, Modal, Radio, Stack, Text } from "@mantine/core";
import { useState } from "react";
import { ApiError, api } from "../api/client";
import type { KeyWithSecret } from "../api/types";
import { GRACE_CHOICES } from "../lib/validation";

/** Regenerate a key's secret, optionally keeping the old one valid for a grace period. */
export function RegenerateModal({
  keyId,
  opened,
  onClose,
  onDone,
}: {
  keyId: string;
  opened: boolean;
  onClose: () => void;
  onDone: (r: KeyWithSecret) => void;
}) {
  const [grace, setGrace] = useState("0");
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const go = async () => {
    setBusy(true);
    setFailure(null);
    try {
      const body = grace === "0" ? {} : { graceSeconds: Number(grace) };
      onDone(await api<KeyWithSecret>("POST", `/v1/api-keys/${keyId}/regenerate`, { body }));
    } catch (err) {
      setFailure(err instanceof ApiError ? err.message : "Could not regenerate the key");
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal opened={opened} onClose={onClose} title="Regenerate secret">
      <Stack>
        <Text size="sm">A new secret is issued for this key; its id and settings stay the same.</Text>
        {failure && (
          <Alert color="red" role="alert">
            {failure}
          </Alert>
        )}
        <Radio.Group label="Old secret" value={grace} onChange={setGrace}>
          <Stack gap={6} mt={6}>
            {GRACE_CHOICES.map((c) => (
              <Radio key={c.value} value={c.value} label={c.value === "0" ? c.label : `Keep working for ${c.label}`} />
            ))}
          </Stack>
        </Radio.Group>
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Cancel
          </Button>
          <Button color="orange" onClick={go} loading={busy}>
            Regenerate
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
