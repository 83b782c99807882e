import { afterEach, beforeEach, expect, it } from "vitest";
import { Harness, describeEachDialect } from "../harness.js";

/**
 * Every list is cursor-paginated (DESIGN §5): `?limit=&cursor=` → `{items, nextCursor}`.
 * Here the lists of orgs, roles and invitations, which once answered everything at once
 * (invitations silently stopped at 500).
 */
describeEachDialect("orgs, roles and invitations page by cursor", (dialect) => {
  let h: Harness;
  beforeEach(async () => {
    h = await Harness.init(dialect);
  });
  afterEach(async () => h?.close());

  /** Every page of `path` at `limit` per page: the pages' items in order, and how many pages. */
  async function walk(token: string, path: string, limit: number) {
    const items: { id: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: URLSearchParams = new URLSearchParams({ limit: String(limit), ...(cursor ? { cursor } : {}) });
      const res: { status: number; body: any } = await h.req("GET", `${path}?${q}`, { token });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      items.push(...res.body.items);
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 50);
    return { ids: items.map((i) => i.id), pages };
  }

  it("lists my orgs oldest first, a page at a time, each once", async () => {
    const token = await h.login();
    const made: string[] = [];
    for (let i = 0; i < 4; i++) {
      made.push((await h.req("POST", "/v1/orgs", { token, body: { name: `org ${i}` } })).body.id);
    }
    const { ids, pages } = await walk(token, "/v1/orgs", 2);
    expect(ids).toEqual([h.operatorOrgId, ...made]);
    expect(pages).toBe(3);
    const first = await h.req("GET", "/v1/orgs?limit=2", { token });
    expect(first.body.items).toHaveLength(2);
    expect(first.body.nextCursor).toEqual(expect.any(String));
  });

  it("lists the built-in roles first, then custom roles a page at a time", async () => {
    const token = await h.login();
    const custom: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await h.req("POST", `/v1/orgs/${h.operatorOrgId}/roles`, {
        token,
        body: { name: `role-${i}`, permissions: ["iam:projects:read"] },
      });
      expect(r.status).toBe(201);
      custom.push(r.body.id);
    }
    const first = await h.req("GET", `/v1/orgs/${h.operatorOrgId}/roles?limit=2`, { token });
    const builtins = first.body.items.filter((r: { builtin: boolean }) => r.builtin).map((r: { id: string }) => r.id);
    expect(builtins).toEqual(["role_owner", "role_admin", "role_member", "role_viewer"]);
    const { ids, pages } = await walk(token, `/v1/orgs/${h.operatorOrgId}/roles`, 2);
    expect(ids).toEqual([...builtins, ...custom]);
    expect(pages).toBe(3);
  });

  it("lists pending invitations newest first, past any page size", async () => {
    const token = await h.login();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await h.req("POST", `/v1/orgs/${h.operatorOrgId}/invitations`, {
        token,
        body: { email: `p${i}@example.com` },
      });
      made.push(r.body.invitation.id);
    }
    const { ids, pages } = await walk(token, `/v1/orgs/${h.operatorOrgId}/invitations`, 2);
    expect(ids).toEqual([...made].reverse());
    expect(pages).toBe(3);
  });

  it("refuses a limit out of range and a cursor it did not hand out, naming the field", async () => {
    const token = await h.login();
    for (const path of ["/v1/orgs", `/v1/orgs/${h.operatorOrgId}/roles`, `/v1/orgs/${h.operatorOrgId}/invitations`]) {
      const big = await h.req("GET", `${path}?limit=201`, { token });
      expect(big.status).toBe(400);
      expect(big.body.errors[0].path).toContain("limit");
      const forged = await h.req("GET", `${path}?cursor=not-a-cursor`, { token });
      expect(forged.status).toBe(400);
      expect(forged.body.errors[0].path).toBe("cursor");
    }
  });
});
