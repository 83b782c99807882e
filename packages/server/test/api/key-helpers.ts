import { expect } from "vitest";
import type { Harness } from "../harness.js";

/** Test helpers for the API key suites (not a test file itself). */
export async function mkKey(h: Harness, token: string, orgId: string, body: Record<string, unknown>) {
  const res = await h.req("POST", `/v1/orgs/${orgId}/api-keys`, { token, body });
  if (res.status !== 201) throw new Error(`key create failed ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.apiKey.id as string, secret: res.body.secret as string, key: res.body.apiKey };
}

/** The key a secret resolves to, as verification and the API's bearer see it (through the cache). */
export async function resolved(h: Harness, secret: string) {
  return (await h.kw.services.verify.resolveSecret(secret))?.key ?? null;
}

/** The key's effective permissions org-wide (or in a project), as the resolver computes them. */
export async function effective(h: Harness, secret: string, projectId?: string): Promise<string[]> {
  const k = await resolved(h, secret);
  if (!k) return [];
  const set = projectId ? (k.projectPermissions.get(projectId) ?? k.permissions) : k.permissions;
  return [...set].sort();
}

export async function mkProject(h: Harness, token: string, orgId: string, name = "p") {
  const res = await h.req("POST", `/v1/orgs/${orgId}/projects`, { token, body: { name } });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

export async function mkServiceAccount(
  h: Harness,
  token: string,
  orgId: string,
  roles: { roleId: string; projectId?: string }[] = [],
) {
  const res = await h.req("POST", `/v1/orgs/${orgId}/service-accounts`, { token, body: { name: "robot", roles } });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

export async function mkRole(
  h: Harness,
  token: string,
  orgId: string,
  permissions: string[],
  name = `r${Math.random().toString(36).slice(2, 8)}`,
) {
  const res = await h.req("POST", `/v1/orgs/${orgId}/roles`, { token, body: { name, permissions } });
  if (res.status !== 201) throw new Error(`role create failed ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

export async function setOrgSettings(h: Harness, token: string, orgId: string, settings: Record<string, unknown>) {
  const res = await h.req("PATCH", `/v1/orgs/${orgId}`, { token, body: { settings } });
  expect(res.status).toBe(200);
}

/** Every audit event of the org, oldest first, straight from the table. */
export async function auditRows(h: Harness, orgId: string) {
  return h.kw.db.kysely
    .selectFrom("audit_events")
    .selectAll()
    .where("org_id", "=", orgId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
}
