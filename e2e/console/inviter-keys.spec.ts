import { describe, expect, it } from "vitest";
import { browserSuite, chromiumMissing } from "../support/browser";
import { firstSignIn, orgIdOf, signIn } from "../support/console";
import { api } from "../support/server";

const OWNER_PW = "owner-password-123";
const M = { email: "mentor@example.com", name: "Mentor", password: "mentor-password-123" };
const N = { email: "newbie@example.com", name: "Newbie", password: "newbie-password-123" };

const login = async (url: string, email: string, password: string) =>
  (await api(url, "POST", "/v1/auth/login", undefined, { email, password })).body.token as string;

/**
 * DESIGN rule 3 / §4 inviterManagesKeys: a member may view (and delete) the keys of members they
 * invited. The API offers it (view=users or view=<their id>); the console is to offer it too (§8).
 */
describe.skipIf(chromiumMissing())("inviterManagesKeys in the console", () => {
  const suite = browserSuite();
  let orgId: string;
  let newbieId: string;

  it("a member who invited another sees that member's keys in the console", async () => {
    await firstSignIn(suite.page, suite.server.email, suite.server.printedPassword, OWNER_PW);
    orgId = orgIdOf(suite.page);
    const owner = await login(suite.server.url, suite.server.email, OWNER_PW);
    // Org policy: inviters manage the keys of members they invited.
    expect(
      (await api(suite.server.url, "PATCH", `/v1/orgs/${orgId}`, owner, { settings: { inviterManagesKeys: true } }))
        .status,
    ).toBe(200);
    // A plain member who may also invite people (a custom role).
    const role = await api(suite.server.url, "POST", `/v1/orgs/${orgId}/roles`, owner, {
      name: "inviter",
      permissions: ["iam:invitations:create"],
    });
    expect(role.status).toBe(201);
    const invM = await api(suite.server.url, "POST", `/v1/orgs/${orgId}/invitations`, owner, {
      email: M.email,
      roles: [{ roleId: "role_member" }, { roleId: role.body.id }],
    });
    expect(invM.status).toBe(201);
    expect(
      (
        await api(suite.server.url, "POST", `/v1/invitations/${invM.body.token}/accept`, undefined, {
          name: M.name,
          password: M.password,
        })
      ).status,
    ).toBe(200);
    // The mentor invites the newbie, who creates a key.
    const mentor = await login(suite.server.url, M.email, M.password);
    const invN = await api(suite.server.url, "POST", `/v1/orgs/${orgId}/invitations`, mentor, {
      email: N.email,
      roles: [{ roleId: "role_member" }],
    });
    expect(invN.status).toBe(201);
    const accN = await api(suite.server.url, "POST", `/v1/invitations/${invN.body.token}/accept`, undefined, {
      name: N.name,
      password: N.password,
    });
    expect(accN.status).toBe(200);
    const newbie = await login(suite.server.url, N.email, N.password);
    newbieId = (await api(suite.server.url, "GET", "/v1/me", newbie)).body.user.id as string;
    expect(
      (await api(suite.server.url, "POST", `/v1/orgs/${orgId}/api-keys`, newbie, { name: "newbie-key" })).status,
    ).toBe(201);
    // The server lets the mentor see it.
    const asMentor = await api(suite.server.url, "GET", `/v1/orgs/${orgId}/api-keys?view=${newbieId}`, mentor);
    expect(asMentor.status).toBe(200);
    expect(asMentor.body.items.map((k: { name: string }) => k.name)).toEqual(["newbie-key"]);
    const users = await api(suite.server.url, "GET", `/v1/orgs/${orgId}/api-keys?view=users`, mentor);
    expect(users.body.items.map((k: { name: string }) => k.name)).toContain("newbie-key");

    // The mentor signs in to the console and opens the newbie's keys (the console's own per-principal link).
    await suite.page.context().clearCookies();
    await signIn(suite.page, M.email, M.password);
    await suite.page.getByRole("heading", { name: "API keys" }).waitFor();
    await suite.page.goto(`/o/${orgId}/keys?view=${newbieId}`);
    await suite.page.getByRole("heading", { name: "API keys" }).waitFor();
    await suite.page.waitForLoadState("networkidle").catch(() => {});
    // Before its fix: the console forces view=mine for anyone without iam:apikeys:manage (and offers no View
    // filter): the mentor sees "No API keys yet" and can neither view nor delete the newbie's key.
    await expect.poll(() => suite.page.getByRole("link", { name: "newbie-key" }).count(), { timeout: 5000 }).toBe(1);
  });
});
