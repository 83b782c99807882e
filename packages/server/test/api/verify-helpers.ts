import type { Harness } from "../harness.js";
import { mkKey, mkRole, mkServiceAccount } from "./key-helpers.js";

/**
 * A platform verifier: a service account of the operator org bound to a role holding
 * iam:apikeys:verify, and a key of it carrying just that permission (plus `extra` key fields).
 */
export async function mkVerifier(h: Harness, extra: Record<string, unknown> = {}) {
  const owner = await h.login();
  const role = await mkRole(h, owner, h.operatorOrgId, ["iam:apikeys:verify"], "verifier");
  const sa = await mkServiceAccount(h, owner, h.operatorOrgId, [{ roleId: role }]);
  return mkKey(h, owner, h.operatorOrgId, {
    name: "verifier",
    owner: { type: "service_account", id: sa },
    permissions: ["iam:apikeys:verify"],
    ...extra,
  });
}

/** A platform verifier's key secret ({@link mkVerifier}). */
export async function verifierKey(h: Harness): Promise<string> {
  return (await mkVerifier(h)).secret;
}

/** POST /v1/verify as `verifier`. */
export function verify(h: Harness, verifier: string, body: Record<string, unknown>, ip?: string) {
  return h.req("POST", "/v1/verify", { token: verifier, body, ip });
}
