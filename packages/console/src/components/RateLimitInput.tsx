import { Group, NumberInput, Stack, Switch, Text } from "@mantine/core";
import { RATE_LIMIT_MAX, RATE_WINDOW_MAX, type RateLimitValue } from "../lib/validation";

/**
 * A key's rate limit: off, or at most so many requests per window. Verification answers
 * RATE_LIMITED past it (counted across every Keyward node when they share Redis). A value out
 * of range is kept as typed, for the form to say so, never quietly changed to the bound.
 */
export function RateLimitInput({
  value,
  onChange,
  error,
}: {
  value: RateLimitValue;
  onChange: (v: RateLimitValue) => void;
  error?: string | null;
}) {
  return (
    <Stack gap={6}>
      <Switch
        label="Limit requests"
        description="Verification refuses the key (RATE_LIMITED) past this many requests per window"
        checked={value.on}
        onChange={(e) => onChange({ ...value, on: e.currentTarget.checked })}
      />
      {value.on && (
        <Group align="flex-start" grow>
          <NumberInput
            label="Requests"
            min={1}
            max={RATE_LIMIT_MAX}
            clampBehavior="none"
            allowDecimal={false}
            allowNegative={false}
            thousandSeparator=","
            value={value.limit}
            onChange={(limit) => onChange({ ...value, limit })}
            error={!!error}
          />
          <NumberInput
            label="Per window (seconds)"
            min={1}
            max={RATE_WINDOW_MAX}
            clampBehavior="none"
            allowDecimal={false}
            allowNegative={false}
            value={value.windowSeconds}
            onChange={(windowSeconds) => onChange({ ...value, windowSeconds })}
            error={!!error}
          />
        </Group>
      )}
      {error && (
        <Text c="red" size="sm" role="alert">
          {error}
        </Text>
      )}
    </Stack>
  );
}
