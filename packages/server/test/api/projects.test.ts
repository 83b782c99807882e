import { afterAll, beforeAll, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";

describeEachDialect("projects", (dialect) => {
  let h: Harness;
  let owner: { token: string; orgId: string; userId: string; email: string };

  beforeAll(async () => {
    h = await Harness.init(dialect);
    owner = await h.newOrgWithOwner("projects");
  });
  afterAll(async () => h?.close());

  const create = (name: string, extra: Record<string, unknown> = {}, token = owner.token, orgId = owner.orgId) =>
    h.req("POST", `/v1/orgs/${orgId}/projects`, { token, body: { name, ...extra } });

  it("creates, reads, renames and deletes a project", async () => {
    const res = await create("web", { description: "The website" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ orgId: owner.orgId, name: "web", description: "The website" });
    expect(res.body.id).toMatch(/^prj_[0-9A-Za-z]{24}$/);
    const id = res.body.id;
    expect((await h.req("GET", `/v1/projects/${id}`, { token: owner.token })).body).toEqual(res.body);
    const renamed = await h.req("PATCH", `/v1/projects/${id}`, { token: owner.token, body: { name: "www" } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: "www", description: "The website" });
    const described = await h.req("PATCH", `/v1/projects/${id}`, { token: owner.token, body: { description: "" } });
    expect(described.body).toMatchObject({ name: "www", description: "" });
    expect((await h.req("GET", `/v1/projects/${id}`, { token: owner.token })).body.name).toBe("www");
    expect((await h.req("DELETE", `/v1/projects/${id}`, { token: owner.token })).status).toBe(204);
    expect((await h.req("GET", `/v1/projects/${id}`, { token: owner.token })).status).toBe(404);
    expect((await h.req("DELETE", `/v1/projects/${id}`, { token: owner.token })).status).toBe(404);
  });

  it("a rename that lands after the project's delete is 404 and audited as nothing; a rename to the same is no event", async () => {
    const p = (await create("racing")).body.id as string;
    const events = async () =>
      (
        await h.kw.db.kysely
          .selectFrom("audit_events")
          .select("action")
          .where("target_id", "=", p)
          .where("action", "=", "project.update")
          .execute()
      ).length;
    expect((await h.req("PATCH", `/v1/projects/${p}`, { token: owner.token, body: { name: "racing" } })).status).toBe(
      200,
    );
    expect(await events()).toBe(0);
    // The DELETE commits between the PATCH's read of the project and its write (forced here;
    // timing decides it between two clients).
    const svc = h.kw.services.projects as unknown as { load: (...a: unknown[]) => Promise<unknown> };
    const load = svc.load.bind(svc);
    let deleted: number | null = null;
    svc.load = async (...args: unknown[]) => {
      const row = await load(...args);
      if (deleted === null) {
        deleted = 0; // the DELETE reads the project too
        deleted = (await h.req("DELETE", `/v1/projects/${p}`, { token: owner.token })).status;
      }
      return row;
    };
    try {
      const patch = await h.req("PATCH", `/v1/projects/${p}`, { token: owner.token, body: { name: "renamed" } });
      expect(deleted).toBe(204);
      expect(patch.status).toBe(404);
    } finally {
      svc.load = load;
    }
    expect(await events()).toBe(0);
  });

  it("lists projects with cursor pagination, newest first, without repeats", async () => {
    const org = await h.newOrgWithOwner("paging");
    const made: { id: string; createdAt: string }[] = [];
    for (let i = 0; i < 5; i++) made.push((await create(`p${i}`, {}, org.token, org.orgId)).body);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : "?limit=2";
      const page = await h.req("GET", `/v1/orgs/${org.orgId}/projects${q}`, { token: org.token });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((p: { id: string }) => p.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    // Newest first; projects made within the same millisecond are ordered by id, descending.
    const newestFirst = [...made].sort((a, b) =>
      a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? 1 : -1) : a.id < b.id ? 1 : -1,
    );
    expect(seen).toEqual(newestFirst.map((p) => p.id));
  });

  it("deleting a project removes project-scoped bindings on it", async () => {
    const project = await create("scoped");
    const m = await h.newMember(
      owner.orgId,
      owner.token,
      [{ roleId: "role_admin", projectId: project.body.id }],
      "scoped",
    );
    expect((await h.req("DELETE", `/v1/projects/${project.body.id}`, { token: owner.token })).status).toBe(204);
    const member = await h.req("GET", `/v1/orgs/${owner.orgId}/members/${m.userId}`, { token: owner.token });
    expect(member.body.roles).toEqual([]);
  });

  it("a project-scoped binding gives rights only in that project", async () => {
    const a = (await create("alpha")).body.id;
    const b = (await create("beta")).body.id;
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_admin", projectId: a }], "projadmin");
    // Reads and changes its own project.
    expect((await h.req("GET", `/v1/projects/${a}`, { token: m.token })).status).toBe(200);
    expect((await h.req("PATCH", `/v1/projects/${a}`, { token: m.token, body: { description: "mine" } })).status).toBe(
      200,
    );
    // Not the other one.
    expect((await h.req("GET", `/v1/projects/${b}`, { token: m.token })).status).toBe(403);
    expect((await h.req("PATCH", `/v1/projects/${b}`, { token: m.token, body: { description: "x" } })).status).toBe(
      403,
    );
    expect((await h.req("DELETE", `/v1/projects/${b}`, { token: m.token })).status).toBe(403);
    // The list shows only the project it is bound on.
    const list = await h.req("GET", `/v1/orgs/${owner.orgId}/projects`, { token: m.token });
    expect(list.status).toBe(200);
    expect(list.body.items.map((p: { id: string }) => p.id)).toEqual([a]);
    // Org-wide actions stay out of reach.
    expect((await create("gamma", {}, m.token)).status).toBe(403);
    expect((await h.req("GET", `/v1/orgs/${owner.orgId}/service-accounts`, { token: m.token })).status).toBe(403);
    expect((await h.req("PATCH", `/v1/orgs/${owner.orgId}`, { token: m.token, body: { name: "x" } })).status).toBe(403);
    // And it may delete its own project.
    expect((await h.req("DELETE", `/v1/projects/${a}`, { token: m.token })).status).toBe(204);
  });

  it("members read projects but cannot create or change them", async () => {
    const p = (await create("readable")).body.id;
    const m = await h.newMember(owner.orgId, owner.token, [{ roleId: "role_member" }], "reader");
    expect((await h.req("GET", `/v1/projects/${p}`, { token: m.token })).status).toBe(200);
    expect((await h.req("GET", `/v1/orgs/${owner.orgId}/projects`, { token: m.token })).status).toBe(200);
    expect((await create("nope", {}, m.token)).status).toBe(403);
    expect((await h.req("PATCH", `/v1/projects/${p}`, { token: m.token, body: { name: "x" } })).status).toBe(403);
  });

  it("validates names", async () => {
    expect((await create("")).status).toBe(400);
    expect((await create("x".repeat(101))).status).toBe(400);
    expect(
      (await h.req("PATCH", `/v1/projects/prj_${"x".repeat(24)}`, { token: owner.token, body: { name: "" } })).status,
    ).toBe(400);
  });
});
