import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, chromiumMissing, launchChromium } from "../support/browser";
import { firstSignIn, orgIdOf } from "../support/console";
import { type RunningServer, api, startServer } from "../support/server";

const PASSWORD = "owner-password-123";

describe.skipIf(chromiumMissing())("the keys page after switching organization", () => {
  let server: RunningServer;
  let chrome: Session;
  let page: Page;

  beforeAll(async () => {
    server = await startServer();
    chrome = await launchChromium(server.url);
    page = chrome.context.pages()[0] ?? (await chrome.context.newPage());
    page.setDefaultTimeout(30_000);
  });
  afterAll(async () => {
    await chrome?.close();
    await server?.stop();
  });

  it("switching org from a service account's keys shows the other org's keys, not an empty view of a foreign principal", async () => {
    await firstSignIn(page, server.email, server.printedPassword, PASSWORD);
    const orgA = orgIdOf(page);
    const token = (
      await api(server.url, "POST", "/v1/auth/login", undefined, { email: server.email, password: PASSWORD })
    ).body.token as string;
    const sa = await api(server.url, "POST", `/v1/orgs/${orgA}/service-accounts`, token, { name: "reporter" });
    expect(sa.status).toBe(201);
    expect(
      (
        await api(server.url, "POST", `/v1/orgs/${orgA}/api-keys`, token, {
          name: "reporter-key",
          owner: { type: "service_account", id: sa.body.id },
        })
      ).status,
    ).toBe(201);
    const orgB = await api(server.url, "POST", "/v1/orgs", token, { name: "Second org" });
    expect(orgB.status).toBe(201);
    expect(
      (await api(server.url, "POST", `/v1/orgs/${orgB.body.id}/api-keys`, token, { name: "second-org-key" })).status,
    ).toBe(201);

    await page.reload();
    await page.getByRole("link", { name: "Service accounts" }).click();
    await page.getByRole("link", { name: "Keys of reporter" }).click();
    await page.getByRole("link", { name: "reporter-key" }).waitFor();

    // Switch to the second org from the header.
    await page.getByRole("combobox", { name: "Organization" }).click();
    await page.getByRole("option", { name: "Second org" }).click();
    await page.waitForURL(`**/o/${orgB.body.id}/keys`);
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    await page.waitForLoadState("networkidle").catch(() => {});
    // Before its fix: the View stays on org A's service account ("Keys of sa_…"), so org B's keys page is empty.
    await expect.poll(() => page.getByRole("link", { name: "second-org-key" }).count(), { timeout: 5000 }).toBe(1);
  });
});
