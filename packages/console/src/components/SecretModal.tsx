import { Alert, Button, Code, Group, Modal, Stack, Text } from "@mantine/core";
import { useState } from "react";

/** Copies text, falling back to a hidden textarea where the Clipboard API is unavailable. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand("copy");
    ta.remove();
    return ok;
  }
}

/**
 * The key's secret, shown once after create or regenerate. Closing asks for confirmation,
 * since the secret cannot be shown again.
 */
export function SecretModal({
  secret,
  keyName,
  onClose,
}: {
  secret: string | null;
  keyName?: string;
  onClose: () => void;
}) {
  const [confirming, setConfirming] = useState(false);
  const [copied, setCopied] = useState(false);
  const close = () => {
    setConfirming(false);
    setCopied(false);
    onClose();
  };

  return (
    <Modal
      opened={!!secret}
      onClose={() => setConfirming(true)}
      closeOnClickOutside={false}
      title={keyName ? `Secret for ${keyName}` : "Your new API key"}
      size="lg"
    >
      <Stack>
        <Alert color="yellow" title="Copy it now">
          This secret will not be shown again. Store it somewhere safe, such as a secret manager.
        </Alert>
        <Code block data-testid="key-secret" style={{ wordBreak: "break-all", whiteSpace: "pre-wrap", fontSize: 14 }}>
          {secret}
        </Code>
        {confirming ? (
          <Stack gap="xs" role="alertdialog" aria-label="Confirm close">
            <Text fw={600}>Close without the secret? You cannot see it again.</Text>
            <Group justify="flex-end">
              <Button variant="default" onClick={() => setConfirming(false)}>
                Go back
              </Button>
              <Button color="red" onClick={close} data-autofocus>
                Yes, close
              </Button>
            </Group>
          </Stack>
        ) : (
          <Group justify="space-between">
            <Button
              color={copied ? "teal" : undefined}
              onClick={async () => setCopied(secret ? await copyText(secret) : false)}
              data-autofocus
            >
              {copied ? "Copied" : "Copy secret"}
            </Button>
            <Button variant="default" onClick={() => setConfirming(true)}>
              Done
            </Button>
          </Group>
        )}
      </Stack>
    </Modal>
  );
}
