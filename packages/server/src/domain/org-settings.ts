import Type, { type Static } from "typebox";
import { ipListLoosened, ipRuleSchema } from "./ip-rules.js";

/** Org key policy (DESIGN §4). Stored as JSON on the org; absent fields take the defaults. */
export const orgSettingsSchema = Type.Object(
  {
    restrictKeyCreation: Type.Boolean({
      description: "Nobody may create keys unless a bound role lists iam:apikeys:create explicitly",
    }),
    requireExpiry: Type.Boolean({ description: "Every new key needs an expiry" }),
    maxKeyLifetimeDays: Type.Union([Type.Integer({ minimum: 1, maximum: 3650 }), Type.Null()], {
      description: "Longest lifetime a new key may have, in days",
    }),
    maxKeysPerUser: Type.Union([Type.Integer({ minimum: 1, maximum: 10000 }), Type.Null()], {
      description: "How many keys one user may own in this org",
    }),
    allowedIps: Type.Array(ipRuleSchema, {
      maxItems: 100,
      description: "Org-wide network allow list, intersected with each key's (empty = any)",
    }),
    inviterManagesKeys: Type.Boolean({
      description: "Inviters may view and delete the keys of members they invited, transitively",
    }),
  },
  { additionalProperties: false },
);
export type OrgSettings = Static<typeof orgSettingsSchema>;

export const DEFAULT_ORG_SETTINGS: OrgSettings = {
  restrictKeyCreation: false,
  requireExpiry: false,
  maxKeyLifetimeDays: null,
  maxKeysPerUser: null,
  allowedIps: [],
  inviterManagesKeys: false,
};

export function parseOrgSettings(json: string): OrgSettings {
  return { ...DEFAULT_ORG_SETTINGS, ...(JSON.parse(json) as Partial<OrgSettings>) };
}

/**
 * The settings `after` loosens from `before` (each as `settings/<name>`): an allow list that
 * admits an address the old one did not, a rule turned off, a bound raised or lifted, inviters
 * given others' keys. A key or token may only tighten the policy that confines it.
 */
export function loosenedSettings(before: OrgSettings, after: OrgSettings): string[] {
  const out: string[] = [];
  if (ipListLoosened(before.allowedIps, after.allowedIps)) out.push("allowedIps");
  if (before.restrictKeyCreation && !after.restrictKeyCreation) out.push("restrictKeyCreation");
  if (before.requireExpiry && !after.requireExpiry) out.push("requireExpiry");
  const raised = (a: number | null, b: number | null) => a !== null && (b === null || b > a);
  if (raised(before.maxKeyLifetimeDays, after.maxKeyLifetimeDays)) out.push("maxKeyLifetimeDays");
  if (raised(before.maxKeysPerUser, after.maxKeysPerUser)) out.push("maxKeysPerUser");
  if (!before.inviterManagesKeys && after.inviterManagesKeys) out.push("inviterManagesKeys");
  return out.map((name) => `settings/${name}`);
}
