import "@mantine/charts/styles.css";
import { BarChart } from "@mantine/charts";
import { Alert, Loader, SegmentedControl, Stack, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, api } from "../api/client";
import { formatDate } from "../lib/format";
import { dayLabel, hourLabel, startOfLocalDays, usageBuckets, usageSeries } from "../lib/usage";

const RANGES = [
  { value: "24", label: "24 hours" },
  { value: "168", label: "7 days" },
  { value: "720", label: "30 days" },
];

/** Requests per hour (or day) for one key; lazy-loaded because it brings recharts. */
export default function KeyUsage({ keyId }: { keyId: string }) {
  const [hours, setHours] = useState("24");
  const usage = useQuery({
    queryKey: ["usage", keyId, hours],
    queryFn: async () => {
      // A day hour by hour; longer ranges as whole local days, today's included.
      const to = new Date();
      const from =
        Number(hours) > 24
          ? startOfLocalDays(to, Number(hours) / 24)
          : new Date(to.getTime() - Number(hours) * 3_600_000);
      const res = await api<unknown>("GET", `/v1/api-keys/${keyId}/usage`, {
        query: { from: from.toISOString(), to: to.toISOString() },
      });
      return { res, from, to };
    },
  });
  if (usage.isLoading) return <Loader size="sm" aria-label="Loading usage" />;
  if (usage.error || !usage.data) {
    const e = usage.error as ApiError;
    return (
      <Text size="sm" c="dimmed">
        {e instanceof ApiError && e.status === 404 && /No route/.test(e.message)
          ? "Usage statistics are not available on this server."
          : `Could not load usage: ${e?.message}`}
      </Text>
    );
  }
  const { res, from, to } = usage.data;
  const buckets = usageBuckets(res);
  const total = buckets.reduce((a, b) => a + b.count, 0);
  const lastUsed = (res as { lastUsedAt?: string | null })?.lastUsedAt;
  // Hourly bars for a day; daily bars for longer ranges.
  const daily = Number(hours) > 24;
  const series = usageSeries(buckets, from, to, daily ? "day" : "hour");
  return (
    <Stack gap="sm">
      <SegmentedControl aria-label="Usage range" value={hours} onChange={setHours} data={RANGES} w="fit-content" />
      <Text size="sm">
        {total} request{total === 1 ? "" : "s"} in the last {RANGES.find((r) => r.value === hours)?.label}
        {lastUsed ? ` · last used ${formatDate(lastUsed, true)}` : ""}
      </Text>
      {total === 0 ? (
        <Alert color="gray">No requests in this period.</Alert>
      ) : (
        <BarChart
          h={220}
          data={series.map((b) => ({ time: daily ? dayLabel(b.time) : hourLabel(b.time), requests: b.count }))}
          dataKey="time"
          series={[{ name: "requests", color: "indigo.6" }]}
          yAxisProps={{ allowDecimals: false }}
          aria-label="Requests per hour"
        />
      )}
    </Stack>
  );
}
