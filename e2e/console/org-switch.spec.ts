import { describe, expect, it } from "vitest";
import { browserSuite, chromiumMissing } from "../support/browser";
import { firstSignIn, orgIdOf } from "../support/console";
import { api } from "../support/server";

const PASSWORD = "owner-password-123";

describe.skipIf(chromiumMissing())("the keys page after switching organization", () => {
  const suite = browserSuite();

  it("switching org from a service account's keys shows the other org's keys, not an empty view of a foreign principal", async () => {
    await firstSignIn(suite.page, suite.server.email, suite.server.printedPassword, PASSWORD);
    const orgA = orgIdOf(suite.page);
    const token = (
      await api(suite.server.url, "POST", "/v1/auth/login", undefined, {
        email: suite.server.email,
        password: PASSWORD,
      })
    ).body.token as string;
    const sa = await api(suite.server.url, "POST", `/v1/orgs/${orgA}/service-accounts`, token, { name: "reporter" });
    expect(sa.status).toBe(201);
    expect(
      (
        await api(suite.server.url, "POST", `/v1/orgs/${orgA}/api-keys`, token, {
          name: "reporter-key",
          owner: { type: "service_account", id: sa.body.id },
        })
      ).status,
    ).toBe(201);
    const orgB = await api(suite.server.url, "POST", "/v1/orgs", token, { name: "Second org" });
    expect(orgB.status).toBe(201);
    expect(
      (await api(suite.server.url, "POST", `/v1/orgs/${orgB.body.id}/api-keys`, token, { name: "second-org-key" }))
        .status,
    ).toBe(201);

    await suite.page.reload();
    await suite.page.getByRole("link", { name: "Service accounts" }).click();
    await suite.page.getByRole("link", { name: "Keys of reporter" }).click();
    await suite.page.getByRole("link", { name: "reporter-key" }).waitFor();

    // Switch to the second org from the header.
    await suite.page.getByRole("combobox", { name: "Organization" }).click();
    await suite.page.getByRole("option", { name: "Second org" }).click();
    await suite.page.waitForURL(`**/o/${orgB.body.id}/keys`);
    await suite.page.getByRole("heading", { name: "API keys" }).waitFor();
    await suite.page.waitForLoadState("networkidle").catch(() => {});
    // Before its fix: the View stays on org A's service account ("Keys of sa_…"), so org B's keys page is empty.
    await expect
      .poll(() => suite.page.getByRole("link", { name: "second-org-key" }).count(), { timeout: 5000 })
      .toBe(1);
  });
});
