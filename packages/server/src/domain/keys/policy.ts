import { AppError, type FieldError } from "../errors.js";
import { onTheCalendar, writable } from "../instants.js";
import { ipListLoosened, normaliseIpRules } from "../ip-rules.js";
import type { OrgSettings } from "../org-settings.js";
import type { Grant } from "../permissions/grants.js";

const DAY_MS = 86_400_000;
/** Unix seconds beyond this (year 9999) are not instants anyone means. */
const MAX_UNIX = 253_402_300_799;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Parses an expiry given as RFC 3339 text or Unix seconds; it must lie in the future.
 * @example parseExpiry("2030-01-01T00:00:00Z", now) // { iso: "2030-01-01T00:00:00.000Z" }
 */
export function parseExpiry(raw: string | number, now: Date): { iso: string } | { error: string } {
  let ms: number;
  if (typeof raw === "number" || /^\d{1,12}$/.test(raw)) {
    const secs = Number(raw);
    if (!Number.isInteger(secs) || secs < 0 || secs > MAX_UNIX)
      return { error: "must be RFC 3339 or whole Unix seconds" };
    ms = secs * 1000;
  } else {
    if (!RFC3339.test(raw)) return { error: "must be RFC 3339 (2030-01-01T00:00:00Z) or Unix seconds" };
    ms = Date.parse(raw);
    if (Number.isNaN(ms) || !onTheCalendar(raw)) return { error: "is not a real date" };
    // An offset can carry 9999-12-31 into year 10000, which RFC 3339 cannot write back.
    if (!writable(ms)) return { error: "must be within the years 0000 to 9999" };
  }
  if (ms <= now.getTime()) return { error: "must be in the future" };
  return { iso: new Date(ms).toISOString() };
}

/** Normalises a key's IP allow list; a bad entry is a 400 naming it. */
export function normaliseKeyIps(
  raw: readonly string[],
  field = "allowedIps",
): { rules: string[] } | { error: FieldError } {
  const res = normaliseIpRules(raw);
  if ("invalidIndex" in res) {
    return {
      error: {
        path: `${field}/${res.invalidIndex}`,
        code: "ip",
        message: `"${raw[res.invalidIndex]}" is not an IPv4/IPv6 address or CIDR`,
      },
    };
  }
  return { rules: res.rules };
}

/**
 * DESIGN §4 restrictKeyCreation: only a bound role that lists the permission literally counts,
 * and only where it is bound: org-wide, or (for a key kept to projects, `scope`) in each of them.
 * `grants` are the principal's bindings' patterns as written.
 */
export function holdsExplicitCreate(grants: readonly Grant[], scope: readonly string[] | null): boolean {
  const literal = grants.filter((g) => g.pattern === "iam:apikeys:create");
  if (literal.some((g) => g.projectId === null)) return true;
  return scope !== null && scope.length > 0 && scope.every((p) => literal.some((g) => g.projectId === p));
}

export interface PolicyInput {
  settings: OrgSettings;
  /** The creating principal's grants, as its roles write them (restrictKeyCreation). */
  grants: readonly Grant[];
  /** Where the key acts: org-wide (null), or kept to these projects. */
  scope: readonly string[] | null;
  expiresAt: string | null;
  /** When the lifetime counts from (creation time). */
  from: Date;
  /** Creation checks restrictKeyCreation; an edit only the expiry rules. (maxKeysPerUser is counted where the key is inserted: key-create.) */
  creating: boolean;
}

/** The maxKeysPerUser violation (counted in the insert's transaction, so creates at once cannot all pass). */
export const tooManyKeys = (max: number): FieldError => ({
  path: "owner",
  code: "maxKeysPerUser",
  message: `A user may have at most ${max} keys in this organization`,
});

/**
 * The org key policy (DESIGN §4) for a new or edited key. Pure; returns the violations
 * (empty = allowed). The org's `allowedIps` is enforced when keys are used, not here.
 */
export function checkKeyPolicy(p: PolicyInput): FieldError[] {
  const out: FieldError[] = [];
  const s = p.settings;
  if (p.creating && s.restrictKeyCreation && !holdsExplicitCreate(p.grants, p.scope)) {
    out.push({
      path: "",
      code: "restrictKeyCreation",
      message: "This organization restricts key creation to roles that list iam:apikeys:create explicitly",
    });
  }
  const needsExpiry = s.requireExpiry || s.maxKeyLifetimeDays !== null;
  if (needsExpiry && p.expiresAt === null) {
    out.push({ path: "expiresAt", code: "requireExpiry", message: "This organization requires every key to expire" });
  }
  if (s.maxKeyLifetimeDays !== null && p.expiresAt !== null) {
    const limit = p.from.getTime() + s.maxKeyLifetimeDays * DAY_MS;
    if (Date.parse(p.expiresAt) > limit) {
      out.push({
        path: "expiresAt",
        code: "maxKeyLifetimeDays",
        message: `Keys in this organization may live at most ${s.maxKeyLifetimeDays} days`,
      });
    }
  }
  return out;
}

/**
 * Permissions the caller may grant to a key acting in `scope`: org-wide (null) or in
 * every listed project. `can` is the caller's own check (its grants and its credential's
 * limits). A permission counts only if held in each project of the scope.
 */
export function grantableAt(
  names: readonly string[],
  can: (permission: string, projectId: string | null) => boolean,
  scope: readonly string[] | null,
): Set<string> {
  const out = new Set<string>();
  for (const n of names) {
    if (scope === null ? can(n, null) : scope.length > 0 && scope.every((p) => can(n, p))) out.add(n);
  }
  return out;
}

/** What `requested` holds beyond `allowed`, sorted (empty = no escalation). */
export function excess(requested: ReadonlySet<string>, allowed: ReadonlySet<string>): string[] {
  return [...requested].filter((p) => !allowed.has(p)).sort();
}

/** A key's restrictions besides its permissions and projects, as stored (normalised). */
export interface KeyLimits {
  /** Normalised rules; empty or null: any address. */
  allowedIps: readonly string[] | null;
  /** ISO time; null: never. */
  expiresAt: string | null;
  ratelimit: { limit: number; windowSeconds: number } | null;
}

/**
 * The restrictions a change lifts or loosens, by field: an IP allow list that admits an
 * address it did not, a later expiry or none, a rate limit raised (more requests, or a shorter
 * window) or removed. Empty when the change keeps or tightens them all.
 */
export function loosenedLimits(before: KeyLimits, after: KeyLimits): string[] {
  const out: string[] = [];
  if (ipListLoosened(before.allowedIps, after.allowedIps)) out.push("allowedIps");
  if (
    before.expiresAt !== null &&
    (after.expiresAt === null || Date.parse(after.expiresAt) > Date.parse(before.expiresAt))
  )
    out.push("expiresAt");
  const a = before.ratelimit;
  const b = after.ratelimit;
  if (a !== null && (b === null || b.limit > a.limit || b.windowSeconds < a.windowSeconds)) out.push("ratelimit");
  return out;
}

/**
 * Throws 403 naming each restriction `after` lifts from `before`: what a key or token does to
 * a key, or the key it creates, may only tighten its own key's. `refusal` opens the message.
 */
export function refuseLoosened(before: KeyLimits, after: KeyLimits, refusal: string): void {
  const lifted = loosenedLimits(before, after);
  if (lifted.length === 0) return;
  throw new AppError("FORBIDDEN", `${refusal} ${lifted.join(", ")}: a key or token may only tighten them`, {
    errors: lifted.map((path) => ({ path, code: "escalation", message: "a key or token may only tighten this" })),
  });
}
