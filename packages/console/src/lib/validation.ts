import type { OrgSettings } from "../api/types";
import { ipRuleError } from "./ip";

/** Form validation, kept pure so it is unit-tested without a browser. */

export type Errors<K extends string = string> = Partial<Record<K, string>>;

export const NAME_MAX = 100;
export const DESCRIPTION_MAX = 1000;
export const PASSWORD_MIN = 12;
const DAY = 86_400_000;

export function nameError(name: string, label = "Name"): string | null {
  if (!name.trim()) return `${label} is required`;
  if (name.length > NAME_MAX) return `${label} must be at most ${NAME_MAX} characters`;
  return null;
}

/** The latest expiry the org policy allows for a key created at `now` (null: no bound). */
export function maxExpiry(policy: Pick<OrgSettings, "maxKeyLifetimeDays"> | undefined, now: Date): Date | null {
  if (!policy?.maxKeyLifetimeDays) return null;
  return new Date(now.getTime() + policy.maxKeyLifetimeDays * DAY);
}

/**
 * Checks an expiry against DESIGN rule 7 (future) and the org policy (§4).
 * `expiresAt` null means "never expires".
 */
export function expiryError(
  expiresAt: Date | null,
  policy: Pick<OrgSettings, "requireExpiry" | "maxKeyLifetimeDays"> | undefined,
  now: Date,
): string | null {
  const required = !!policy?.requireExpiry || !!policy?.maxKeyLifetimeDays;
  if (!expiresAt) return required ? "This organization requires keys to expire" : null;
  if (Number.isNaN(expiresAt.getTime())) return "Pick a valid date";
  if (expiresAt.getTime() <= now.getTime()) return "Expiry must be in the future";
  const max = maxExpiry(policy, now);
  if (max && expiresAt.getTime() > max.getTime()) {
    return `Keys in this organization may live at most ${policy?.maxKeyLifetimeDays} days`;
  }
  return null;
}

/** A `YYYY-MM-DD` date picked in the form becomes the end of that day, local time. */
export function endOfDay(date: string | null): Date | null {
  if (!date) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(date);
  if (!m) return new Date(Number.NaN);
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 23, 59, 59);
}

/** What a key's allowed projects mean (both key forms). */
export const ALLOWED_PROJECTS_HINT =
  "None selected: every project the owner can reach. Selected: only those, and nothing org-wide unless the preferred project is one of them";

/** A key's rate limit as the forms hold it: off, or so many requests per window of seconds. */
export interface RateLimitValue {
  on: boolean;
  /** As typed (a number input gives "" while empty). */
  limit: number | string;
  windowSeconds: number | string;
}

/** The API's bounds (a window of at most a day). */
export const RATE_LIMIT_MAX = 1_000_000_000;
export const RATE_WINDOW_MAX = 86_400;

/** The form value for a key's `ratelimit` (off when it has none; then a suggestion to start from). */
export function rateLimitValue(r: { limit: number; windowSeconds: number } | null | undefined): RateLimitValue {
  return r
    ? { on: true, limit: r.limit, windowSeconds: r.windowSeconds }
    : { on: false, limit: 100, windowSeconds: 60 };
}

/** What the API takes as `ratelimit`: null when off. Call after {@link rateLimitError} found nothing. */
export function rateLimitBody(v: RateLimitValue): { limit: number; windowSeconds: number } | null {
  return v.on ? { limit: Number(v.limit), windowSeconds: Number(v.windowSeconds) } : null;
}

const wholeIn = (x: number | string, min: number, max: number) =>
  x !== "" && Number.isInteger(Number(x)) && Number(x) >= min && Number(x) <= max;

export function rateLimitError(v: RateLimitValue): string | null {
  if (!v.on) return null;
  if (!wholeIn(v.limit, 1, RATE_LIMIT_MAX))
    return `Requests must be a whole number from 1 to ${RATE_LIMIT_MAX.toLocaleString("en-US")}`;
  if (!wholeIn(v.windowSeconds, 1, RATE_WINDOW_MAX))
    return `The window must be a whole number of seconds from 1 to ${RATE_WINDOW_MAX.toLocaleString("en-US")} (a day)`;
  return null;
}

export interface KeyFormValues {
  name: string;
  description: string;
  ownerType: "me" | "service_account" | "project";
  ownerId: string | null;
  expires: boolean;
  expiresOn: string | null;
  allowedIps: string[];
  allowedProjects: string[];
  readOnly: boolean;
  permissions: string[];
  ratelimit: RateLimitValue;
}

export type KeyFormField = keyof KeyFormValues;

/** Everything the create-key form checks before it sends (the server checks again). */
export function validateKeyForm(
  v: KeyFormValues,
  ctx: { policy?: OrgSettings; now: Date; allowed?: readonly string[]; readOnlyOf?: (p: string) => boolean },
): Errors<KeyFormField> {
  const errors: Errors<KeyFormField> = {};
  const n = nameError(v.name);
  if (n) errors.name = n;
  if (v.description.length > DESCRIPTION_MAX) errors.description = `At most ${DESCRIPTION_MAX} characters`;
  if (v.ownerType !== "me" && !v.ownerId) {
    errors.ownerId = v.ownerType === "project" ? "Choose a project" : "Choose a service account";
  }
  const exp = expiryError(v.expires ? endOfDay(v.expiresOn) : null, ctx.policy, ctx.now);
  if (exp) errors.expiresOn = exp;
  for (let i = 0; i < v.allowedIps.length; i++) {
    const e = ipRuleError(v.allowedIps[i], v.allowedIps.slice(0, i));
    if (e) {
      errors.allowedIps = e;
      break;
    }
  }
  const rl = rateLimitError(v.ratelimit);
  if (rl) errors.ratelimit = rl;
  if (ctx.allowed) {
    const extra = v.permissions.filter((p) => !ctx.allowed?.includes(p));
    if (extra.length) errors.permissions = `You may not grant ${extra.join(", ")}`;
  }
  if (v.readOnly && ctx.readOnlyOf) {
    const writes = v.permissions.filter((p) => !ctx.readOnlyOf?.(p));
    if (writes.length) errors.permissions = `A read-only key cannot hold ${writes.join(", ")}`;
  }
  return errors;
}

export function passwordErrors(v: { currentPassword: string; newPassword: string; confirm: string }) {
  const errors: Errors<"currentPassword" | "newPassword" | "confirm"> = {};
  if (!v.currentPassword) errors.currentPassword = "Enter your current password";
  if (v.newPassword.length < PASSWORD_MIN) errors.newPassword = `Use at least ${PASSWORD_MIN} characters`;
  else if (v.newPassword === v.currentPassword) errors.newPassword = "Choose a password different from the current one";
  if (v.confirm !== v.newPassword) errors.confirm = "Passwords do not match";
  return errors;
}

export function emailError(email: string): string | null {
  if (!email.trim()) return "Email is required";
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim())) return "Enter a valid email address";
  return null;
}

/** Grace period choices for regenerate, in seconds (≤ 7 days, DESIGN rule 5). */
export const GRACE_CHOICES = [
  { value: "0", label: "Stop the old secret now" },
  { value: "3600", label: "1 hour" },
  { value: "86400", label: "24 hours" },
  { value: "604800", label: "7 days" },
];

export const hasErrors = (e: object) => Object.values(e).some(Boolean);
