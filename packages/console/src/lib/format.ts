/** Display helpers. */

export function formatDate(iso: string | null | undefined, withTime = false): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return withTime
    ? d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })
    : d.toLocaleDateString(undefined, { dateStyle: "medium" });
}

/** "3 minutes ago", "in 5 days". */
export function relative(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return "never";
  const diff = new Date(iso).getTime() - now.getTime();
  const abs = Math.abs(diff);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ["day", 86_400_000],
    ["hour", 3_600_000],
    ["minute", 60_000],
  ];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, ms] of units) if (abs >= ms) return rtf.format(Math.round(diff / ms), unit);
  return "just now";
}

export const ownerTypeLabel: Record<string, string> = {
  user: "User",
  service_account: "Service account",
  project: "Project",
};

/** "100 requests per 60 s", or "None". */
export function rateLimitText(r: { limit: number; windowSeconds: number } | null | undefined): string {
  if (!r) return "None";
  const n = r.limit.toLocaleString("en-US");
  return `${n} ${r.limit === 1 ? "request" : "requests"} per ${r.windowSeconds.toLocaleString("en-US")} s`;
}
