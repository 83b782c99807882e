/** Bad arguments: exit code 2. */
export class UsageError extends Error {}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/** `90s`, `15m`, `1h`, `30d`, `2w`, `1y` (or plain seconds) → seconds. */
export function parseDuration(value: string, flag = "duration"): number {
  const m = /^(\d+)\s*([smhdwy]?)$/i.exec(value.trim());
  if (!m) throw new UsageError(`${flag}: "${value}" is not a duration (examples: 90s, 15m, 1h, 30d)`);
  return Number(m[1]) * UNITS[(m[2] || "s").toLowerCase()];
}

/**
 * `--expires`: a duration from now (`30d`, `12h`), a date (`2027-01-01`, end of that day UTC
 * is not assumed: midnight UTC) or an RFC 3339 instant. Returns an ISO instant.
 */
export function parseExpires(value: string, now = new Date()): string {
  const v = value.trim();
  if (/^\d+\s*[smhdwy]$/i.test(v)) return new Date(now.getTime() + parseDuration(v, "--expires") * 1000).toISOString();
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const t = Date.parse(`${v}T00:00:00Z`);
    // Off the calendar (2027-02-30) parses as a day of the next month: not a date.
    if (!Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === v) return new Date(t).toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(v)) {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  throw new UsageError(
    `--expires: "${value}" is neither a duration (30d, 12h) nor a date (2027-01-01, 2027-01-01T12:00:00Z)`,
  );
}

/** The server's bounds of a rate limit: requests per window, and the window's length. */
const RATE_LIMIT_MAX = 1_000_000_000;
const WINDOW_MAX_SECONDS = 86_400;

/** `100/60s` or `100/1m` → {limit, windowSeconds}: 1 to a billion requests, a window of 1 s to a day. */
export function parseRateLimit(value: string): { limit: number; windowSeconds: number } {
  const m = /^(\d+)\/(.+)$/.exec(value.trim());
  if (!m) throw new UsageError(`--rate-limit: "${value}" should look like 100/60s`);
  const limit = Number(m[1]);
  const windowSeconds = parseDuration(m[2], "--rate-limit");
  if (limit < 1 || limit > RATE_LIMIT_MAX)
    throw new UsageError(`--rate-limit: "${value}" must allow 1 to ${RATE_LIMIT_MAX.toLocaleString("en-US")} requests`);
  if (windowSeconds < 1 || windowSeconds > WINDOW_MAX_SECONDS)
    throw new UsageError(`--rate-limit: "${value}" needs a window of 1 second to 1 day (86400s)`);
  return { limit, windowSeconds };
}

/**
 * `--from`/`--to` of a usage query: an RFC 3339 instant as given, or a date, which starts at
 * midnight UTC; `--to` a date counts that whole day (the range ends at the next midnight).
 */
export function usageBound(value: string | undefined, end: boolean): string | undefined {
  if (!value || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return value;
  const t = Date.parse(`${value}T00:00:00.000Z`);
  // Off the calendar (2026-02-30) parses as a day of the next month: not a date.
  if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== value)
    throw new UsageError(`${end ? "--to" : "--from"}: "${value}" is not a date`);
  return new Date(end ? t + 86_400_000 : t).toISOString();
}

/** Repeatable flag collector for commander. */
export const collect = (value: string, previous: string[] = []) => [
  ...previous,
  ...value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
];

export function parseIntArg(value: string, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag}: "${value}" is not a whole number from ${min} to ${max}`);
  return n;
}

/** Role bindings: `role_admin` (org-wide) or `role_admin@prj_…` (one project). */
export function parseRoleBindings(values: string[] | undefined): { roleId: string; projectId?: string }[] | undefined {
  if (!values) return undefined;
  return values.map((v) => {
    const [roleId, projectId] = v.split("@");
    if (!roleId) throw new UsageError(`--role: "${v}" should be role_… or role_…@prj_…`);
    return projectId ? { roleId, projectId } : { roleId };
  });
}

/** Owner of a key from its id prefix: usr_ → user, sa_ → service account, prj_ → project. */
export function parseOwner(id: string): { type: string; id: string } {
  if (id.startsWith("usr_")) return { type: "user", id };
  if (id.startsWith("sa_")) return { type: "service_account", id };
  if (id.startsWith("prj_")) return { type: "project", id };
  throw new UsageError(`--owner: "${id}" should be a user (usr_…), service account (sa_…) or project (prj_…) id`);
}
