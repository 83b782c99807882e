import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Grant, allows, expandGrants } from "../../src/domain/permissions/grants.js";
import { expand } from "../../src/domain/permissions/match.js";
import { Harness, describeEachDialect } from "../harness.js";
import { effective, mkProject, mkRole } from "./key-helpers.js";

const PATTERNS = [
  "compute:read",
  "compute:write",
  "compute:delete",
  "storage:read",
  "storage:write",
  "storage:*",
  "compute:*",
  "*:read",
  "iam:projects:read",
  "iam:apikeys:create",
  "*",
];
const ROLES = ["role_viewer", "role_member"];

/**
 * Property: for generated callers (custom roles, org-wide and on a project, with wildcards)
 * and generated requests, creation succeeds iff the request ⊆ the caller's grants where the
 * key acts, and a created key's effective permissions never exceed its owner's.
 * @see issue 3, point 3
 */
describeEachDialect("api key escalation (property)", (dialect) => {
  let h: Harness;
  let ownerToken: string;
  let org: string;
  let project: string;
  let roleOrg: string;
  let roleProject: string;
  let member: { token: string; userId: string };
  beforeAll(async () => {
    h = await Harness.init(dialect);
    const o = await h.newOrgWithOwner("prop");
    ownerToken = o.token;
    org = o.orgId;
    project = await mkProject(h, ownerToken, org);
    roleOrg = await mkRole(h, ownerToken, org, ["iam:apikeys:create"]);
    roleProject = await mkRole(h, ownerToken, org, ["compute:read"]);
    member = await h.newMember(org, ownerToken, [{ roleId: roleOrg }, { roleId: roleProject, projectId: project }]);
  });
  afterAll(async () => h.close());

  it("creation succeeds iff the request is a subset of the caller's grants", async () => {
    const catalog = h.kw.services.deps.catalog;
    const builtin = new Map(h.kw.services.deps.builtinRoles.map((r) => [r.id, r.permissions]));
    let created = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...PATTERNS), { minLength: 1, maxLength: 3 }),
        fc.array(fc.constantFrom(...PATTERNS), { minLength: 1, maxLength: 3 }),
        fc.array(fc.constantFrom(...PATTERNS), { maxLength: 3 }),
        fc.subarray(ROLES, { maxLength: 1 }),
        fc.boolean(),
        async (orgPerms, projectPerms, requested, roles, inProject) => {
          const set = async (id: string, permissions: string[]) => {
            const r = await h.req("PATCH", `/v1/roles/${id}`, { token: ownerToken, body: { permissions } });
            expect(r.status).toBe(200);
          };
          await set(roleOrg, orgPerms);
          await set(roleProject, projectPerms);
          const grants: Grant[] = [
            ...orgPerms.map((pattern) => ({ pattern, projectId: null })),
            ...projectPerms.map((pattern) => ({ pattern, projectId: project })),
          ];
          const scope = inProject ? project : null;
          const wanted = expand([...requested, ...roles.flatMap((r) => builtin.get(r) ?? [])], catalog, false);
          const explicit = requested.length > 0 || roles.length > 0;
          const canCreate = allows(grants, "iam:apikeys:create", scope);
          const subset = [...wanted].every((p) => allows(grants, p, scope));
          const expectOk = canCreate && (!explicit || subset);
          const res = await h.req("POST", `/v1/orgs/${org}/api-keys`, {
            token: member.token,
            body: {
              name: "prop",
              ...(requested.length ? { permissions: requested } : {}),
              ...(roles.length ? { roles } : {}),
              ...(inProject ? { allowedProjects: [project] } : {}),
            },
          });
          expect(
            res.status,
            JSON.stringify({ orgPerms, projectPerms, requested, roles, inProject, body: res.body }),
          ).toBe(expectOk ? 201 : 403);
          if (res.status !== 201) {
            refused++;
            return;
          }
          created++;
          const held = expandGrants(grants, catalog, false);
          for (const p of await effective(h, res.body.secret)) expect(held.org.has(p)).toBe(true);
          for (const p of await effective(h, res.body.secret, project))
            expect((held.projects.get(project) ?? held.org).has(p)).toBe(true);
          await h.req("DELETE", `/v1/api-keys/${res.body.apiKey.id}`, { token: ownerToken });
        },
      ),
      { numRuns: dialect === "sqlite" ? 100 : 40 },
    );
    expect(created).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  }, 120_000);
});
