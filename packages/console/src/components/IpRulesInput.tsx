import { ActionIcon, Badge, Button, Group, Stack, Text, TextInput } from "@mantine/core";
import { type KeyboardEvent, useEffect, useRef, useState } from "react";
import { ipRuleError } from "../lib/ip";

/**
 * Add/remove IPv4/IPv6 addresses and CIDRs, each checked as it is added. Empty list = any address.
 * An address typed but not added is not dropped when its form is submitted: a valid one is added
 * first (then the form is submitted again), an invalid one stops the submit with its error.
 */
export function IpRulesInput({
  value,
  onChange,
  error,
  label = "IP restrictions",
}: {
  value: string[];
  onChange: (v: string[]) => void;
  error?: string | null;
  label?: string;
}) {
  const [draft, setDraft] = useState("");
  const [draftError, setDraftError] = useState<string | null>(null);

  const add = () => {
    const e = ipRuleError(draft, value);
    setDraftError(e);
    if (e) return;
    onChange([...value, draft.trim()]);
    setDraft("");
  };

  const input = useRef<HTMLInputElement>(null);
  const latest = useRef({ draft, value, onChange });
  latest.current = { draft, value, onChange };
  useEffect(() => {
    const form = input.current?.form;
    if (!form) return;
    // On the form itself, before React's onSubmit (which listens at the root) sees the event.
    const onSubmit = (e: Event) => {
      const { draft: typed, value: rules, onChange: change } = latest.current;
      if (!typed.trim()) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      const err = ipRuleError(typed, rules);
      if (err) {
        setDraftError(`${err} (add it, or clear the field)`);
        input.current?.focus();
        return;
      }
      change([...rules, typed.trim()]);
      setDraft("");
      setTimeout(() => form.requestSubmit(), 0);
    };
    form.addEventListener("submit", onSubmit);
    return () => form.removeEventListener("submit", onSubmit);
  }, []);
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Enter") {
      e.preventDefault();
      add();
    }
  };

  return (
    <Stack gap={6}>
      <Group align="flex-start" gap="xs" wrap="nowrap">
        <TextInput
          ref={input}
          label={label}
          description="Addresses or CIDRs allowed to use the key; none = any address"
          placeholder="203.0.113.0/24"
          value={draft}
          onChange={(e) => {
            setDraft(e.currentTarget.value);
            if (draftError) setDraftError(null);
          }}
          onKeyDown={onKey}
          error={draftError ?? error}
          inputWrapperOrder={["label", "input", "description", "error"]}
          style={{ flex: 1 }}
        />
        <Button variant="default" onClick={add} mt={25} aria-label="Add IP rule">
          Add
        </Button>
      </Group>
      {value.length > 0 ? (
        <Group gap={6} aria-label="Allowed IPs">
          {value.map((ip) => (
            <Badge
              key={ip}
              variant="light"
              size="lg"
              tt="none"
              rightSection={
                <ActionIcon
                  size="xs"
                  variant="transparent"
                  aria-label={`Remove ${ip}`}
                  onClick={() => onChange(value.filter((x) => x !== ip))}
                >
                  ×
                </ActionIcon>
              }
            >
              {ip}
            </Badge>
          ))}
        </Group>
      ) : (
        <Text size="xs" c="dimmed">
          Any address
        </Text>
      )}
    </Stack>
  );
}
