import { type IpRule, ipAllowed } from "../ip-rules.js";
import { isReadPermission } from "../permissions/catalog.js";
import type { OrgSettings } from "../org-settings.js";
import { type PermissionScopes, atProject } from "./effective.js";

export type KeyOwnerType = "user" | "service_account" | "project";

/**
 * A key as the verification path sees it: its stored fields, its org's policy and its
 * owner's current standing, resolved by `KeyResolver` (services/key-resolver.ts).
 */
export interface ResolvedKey {
  id: string;
  orgId: string;
  name: string;
  owner: { type: KeyOwnerType; id: string };
  status: "active" | "disabled";
  /** ISO instant or null (never expires). */
  expiresAt: string | null;
  readOnly: boolean;
  defaultProjectId: string | null;
  /** Projects the key may act in; null = any project of its org. */
  allowedProjects: string[] | null;
  /** The key's own allow list, parsed (empty = any address). */
  allowedIps: IpRule[];
  /** The org's allow list, parsed (empty = any address); both lists must admit the IP. */
  orgAllowedIps: IpRule[];
  ratelimit: { limit: number; windowSeconds: number } | null;
  /** The key's own concrete permissions (its list and roles, expanded); null = all of the owner's. */
  keyPermissions: Set<string> | null;
  /** Effective permissions org-wide: key ∩ owner's current grants ∩ read-only. */
  permissions: Set<string>;
  /** Effective permissions in projects where the owner holds project-scoped grants. */
  projectPermissions: Map<string, Set<string>>;
  /** False when the owner left the org (user) or no longer exists. */
  ownerActive: boolean;
  org: { id: string; isOperator: boolean; settings: OrgSettings };
  /** Which stored hash matched: the current secret, or the previous one in its grace period. */
  matched: "current" | "previous";
  /**
   * When `matched` is "previous": the end of the regenerate grace period, after which the
   * old secret is refused (NOT_FOUND) even from a cache.
   */
  graceEndsAt?: string | null;
  version: number;
  createdAt: string;
}

export interface DecideRequest {
  /** Every one of these must be held. */
  permissions?: readonly string[];
  /** Project the request acts in; defaults to the key's defaultProjectId (project keys: their project). */
  projectId?: string | null;
  /**
   * The org `projectId` belongs to (null: no such project), looked up by the caller: a key
   * acts only in its own org's projects. Unset with a `projectId`, the project is refused.
   */
  projectOrgId?: string | null;
  /** Client IP; required when an allow list applies. */
  ip?: string | null;
  /** HTTP method of the protected request: GET/HEAD/OPTIONS read, anything else writes. */
  method?: string | null;
}

export type DenyCode =
  | "MALFORMED"
  | "NOT_FOUND"
  | "EXPIRED"
  | "DISABLED"
  | "IP_NOT_ALLOWED"
  | "PROJECT_NOT_ALLOWED"
  | "READ_ONLY"
  | "INSUFFICIENT_PERMISSIONS"
  | "OWNER_INACTIVE";

export type Decision =
  | {
      valid: true;
      keyId: string;
      orgId: string;
      owner: { type: KeyOwnerType; id: string };
      /** The project the decision applies to (null = org-wide). */
      projectId: string | null;
      /** Effective concrete permissions there, sorted. */
      permissions: string[];
      expiresAt: string | null;
      ratelimit: { limit: number; windowSeconds: number } | null;
    }
  | { valid: false; code: DenyCode };

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The decision for a presented secret that fails its format or checksum. */
export const MALFORMED: Decision = Object.freeze({ valid: false, code: "MALFORMED" }) as Decision;

/**
 * Is the method a read (GET/HEAD/OPTIONS, as written: methods are case-sensitive, RFC 9110
 * §9.1, and a service may treat `get` as something else)? Absent counts as read; anything
 * else, "" too, writes.
 */
export const isReadMethod = (method: string | null | undefined) =>
  method === undefined || method === null || READ_METHODS.has(method);

/** The project a request acts in, after defaults. */
/** The projects a key is kept to (a project key: its own), or null when it may act anywhere in its org. */
export const keptProjects = (key: ResolvedKey): string[] | null =>
  key.owner.type === "project" ? [key.owner.id] : key.allowedProjects;

export function requestProject(key: ResolvedKey, req: DecideRequest): string | null {
  if (req.projectId) return req.projectId;
  if (key.owner.type === "project") return key.owner.id;
  return key.defaultProjectId;
}

/**
 * Why a key may not be used as a credential at all (from `ip`, at `now`), or null when it may:
 * the checks of {@link decide} that do not depend on what the request asks for. Allocates
 * nothing, so credential checks on every request stay cheap.
 */
export function credentialDenial(
  key: ResolvedKey | null,
  ip: string | null | typeof ANY_ADDRESS,
  now: Date,
): DenyCode | null {
  if (!key) return "NOT_FOUND";
  // A previous secret past its grace period is gone, as if never issued.
  if (key.matched === "previous" && (!key.graceEndsAt || Date.parse(key.graceEndsAt) <= now.getTime()))
    return "NOT_FOUND";
  // Before DISABLED: a member's keys are disabled as they leave, and say why while they are gone.
  if (!key.ownerActive) return "OWNER_INACTIVE";
  if (key.status !== "active") return "DISABLED";
  if (key.expiresAt !== null && Date.parse(key.expiresAt) <= now.getTime()) return "EXPIRED";
  if (ip !== ANY_ADDRESS && !addressAdmitted(key, ip)) return "IP_NOT_ALLOWED";
  return null;
}

/** Both the org's and the key's allow lists admit the address (their intersection). */
export const addressAdmitted = (key: ResolvedKey, ip: string | null) =>
  ipAllowed(key.orgAllowedIps, ip) && ipAllowed(key.allowedIps, ip);

/** Stands for the client's address in a request decided apart from it: the allow lists are not checked. */
export const ANY_ADDRESS = Symbol("any address");

/** What is judged before the address: the credential itself. */
const BEFORE_ADDRESS = new Set<string>(["MALFORMED", "NOT_FOUND", "OWNER_INACTIVE", "DISABLED", "EXPIRED"]);

/**
 * Whether {@link decide} refuses a request from `ip` with IP_NOT_ALLOWED, given its answer for
 * the same request from any address ({@link decideFromAnyAddress}); otherwise it answers that.
 * So a caller may remember decisions by request shape without the client's address in it, and
 * judge the address, which is cheap, every time.
 */
export function refusedForAddress(
  anyAddress: { valid: true } | { valid: false; code: string },
  key: ResolvedKey,
  ip: string | null,
): boolean {
  if (!anyAddress.valid && BEFORE_ADDRESS.has(anyAddress.code)) return false;
  return !addressAdmitted(key, ip);
}

/**
 * Until when the secret presented may be trusted: the key's expiry, or for a previous secret
 * in its grace period the end of that grace, whichever comes first (null: no end).
 */
function credentialEnd(key: ResolvedKey): string | null {
  const grace = key.matched === "previous" ? (key.graceEndsAt ?? null) : null;
  if (grace === null) return key.expiresAt;
  return key.expiresAt !== null && Date.parse(key.expiresAt) < Date.parse(grace) ? key.expiresAt : grace;
}

/**
 * Decides whether a resolved key may make a request. Pure: no I/O, no clock (`now` is passed).
 * `key` null means no key has that secret (NOT_FOUND). Checks run from the cheapest and
 * least revealing to the most specific.
 * @example decide(key, { permissions: ["compute:read"], ip: "203.0.113.9", method: "GET" }, new Date())
 */
export function decide(key: ResolvedKey | null, req: DecideRequest, now: Date): Decision {
  return decideFrom(req.ip ?? null, key, req, now);
}

/** {@link decide} for the request from any address: its allow lists are judged apart ({@link refusedForAddress}). */
export const decideFromAnyAddress = (key: ResolvedKey | null, req: DecideRequest, now: Date): Decision =>
  decideFrom(ANY_ADDRESS, key, req, now);

function decideFrom(
  ip: string | null | typeof ANY_ADDRESS,
  key: ResolvedKey | null,
  req: DecideRequest,
  now: Date,
): Decision {
  const denied = credentialDenial(key, ip, now);
  if (denied !== null || !key) return { valid: false, code: denied ?? "NOT_FOUND" };
  const projectId = requestProject(key, req);
  // A key kept to some projects does nothing outside them, org-wide requests included.
  if (projectId === null && key.allowedProjects) return { valid: false, code: "PROJECT_NOT_ALLOWED" };
  if (projectId !== null) {
    // A project named by the request must be one of the key's org (its own defaults are).
    if (req.projectId && req.projectOrgId !== key.orgId) return { valid: false, code: "PROJECT_NOT_ALLOWED" };
    if (key.owner.type === "project" && projectId !== key.owner.id)
      return { valid: false, code: "PROJECT_NOT_ALLOWED" };
    if (key.allowedProjects && !key.allowedProjects.includes(projectId))
      return { valid: false, code: "PROJECT_NOT_ALLOWED" };
  }
  const wanted = req.permissions ?? [];
  if (key.readOnly && (!isReadMethod(req.method) || wanted.some((p) => !isReadPermission(p)))) {
    return { valid: false, code: "READ_ONLY" };
  }
  const held = atProject(
    { org: key.permissions, projects: key.projectPermissions } satisfies PermissionScopes,
    projectId,
  );
  if (wanted.some((p) => !held.has(p))) return { valid: false, code: "INSUFFICIENT_PERMISSIONS" };
  return {
    valid: true,
    keyId: key.id,
    orgId: key.orgId,
    owner: key.owner,
    projectId,
    permissions: [...held].sort(),
    expiresAt: credentialEnd(key),
    ratelimit: key.ratelimit,
  };
}
