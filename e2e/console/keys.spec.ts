import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, chromiumMissing, launchChromium } from "../support/browser";
import {
  closeSecret,
  dismissNotifications,
  firstSignIn,
  orgIdOf,
  saveSettings,
  screenshot,
  takeSecret,
  withKey,
} from "../support/console";
import { type RunningServer, startServer } from "../support/server";

const PASSWORD = "owner-password-123";

/** A local date `days` from now as YYYY-MM-DD (what the date field takes). */
const day = (days: number) => {
  const d = new Date(Date.now() + days * 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
};

/** The owner's key lifecycle in the browser: create, copy, use, edit, regenerate, disable, delete. */
describe.skipIf(chromiumMissing())("console: API key lifecycle (owner)", () => {
  let server: RunningServer;
  let chrome: Session;
  let context: BrowserContext;
  let page: Page;
  let orgId: string;
  let secret: string;
  let shortLived: string;

  beforeAll(async () => {
    server = await startServer();
    chrome = await launchChromium(server.url);
    context = chrome.context;
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(30_000);
  });
  afterAll(async () => {
    await chrome?.close();
    await server?.stop();
  });

  it("asks for a new password on the first sign-in with the printed one", async () => {
    await firstSignIn(page, server.email, server.printedPassword, PASSWORD);
    await page.getByText("No API keys yet").waitFor();
    orgId = orgIdOf(page);
  });

  it("creates a key with IP and permission restrictions, showing the secret once", async () => {
    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").waitFor();
    // The dialog takes focus on its first field and keeps Tab inside itself.
    await expect.poll(() => dialog.getByLabel("Name").evaluate((el) => el === document.activeElement)).toBe(true);
    for (let i = 0; i < 40; i++) await page.keyboard.press("Tab");
    expect(await page.evaluate(() => !!document.activeElement?.closest("[role=dialog]"))).toBe(true);
    await dialog.getByRole("button", { name: "Create key" }).click();
    await dialog.getByText("Name is required").waitFor();
    await dialog.getByLabel("Name").fill("ci-deploy");

    const ip = dialog.getByLabel("IP restrictions");
    await ip.fill("10.0.0.300");
    await dialog.getByRole("button", { name: "Add IP rule" }).click();
    await dialog.getByText("is not an IPv4/IPv6 address or CIDR").waitFor();
    await ip.fill("127.0.0.1");
    await ip.press("Enter");
    await ip.fill("10.20.0.0/16");
    await dialog.getByRole("button", { name: "Add IP rule" }).click();
    await dialog.getByRole("button", { name: "Remove 10.20.0.0/16" }).click();
    await dialog.getByRole("button", { name: "Remove 127.0.0.1" }).waitFor();

    await dialog.getByRole("button", { name: "Read all compute" }).click();
    await dialog.getByLabel("iam:projects:read").check();
    await screenshot(page, "create-key");
    await dialog.getByRole("button", { name: "Create key" }).click();

    const { shown, copied } = await takeSecret(page);
    expect(shown).toMatch(/^kw_[0-9A-Za-z]{38}$/);
    expect(copied).toBe(shown);
    secret = shown;
    await screenshot(page, "secret-once");
    await page.keyboard.press("Escape");
    await page.getByRole("dialog").getByText("Close without the secret?").waitFor();
    await page.getByRole("dialog").getByRole("button", { name: "Go back" }).click();
    await closeSecret(page);
    const row = page.getByRole("row", { name: /ci-deploy/ });
    await row.waitFor();
    expect(await row.innerText()).toContain(secret.slice(0, 8));
    expect(await row.innerText()).toContain("127.0.0.1");
  });

  it("the copied secret works against the API, and a permission it lacks is refused", async () => {
    expect(await withKey(server.url, secret, "GET", `/v1/orgs/${orgId}/projects`)).toBe(200);
    expect(await withKey(server.url, secret, "POST", `/v1/orgs/${orgId}/projects`, { name: "nope" })).toBe(403);
  });

  it("edits the key's name and description", async () => {
    await page.getByRole("link", { name: "ci-deploy" }).click();
    await page.getByRole("heading", { name: "ci-deploy" }).waitFor();
    const form = page.getByRole("form", { name: "Edit key" });
    await form.getByLabel("Name").fill("ci-deploy-edited");
    await form.getByLabel("Description").fill("Deploys from CI");
    await form.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Key saved").waitFor();
    await page.getByRole("heading", { name: "ci-deploy-edited" }).waitFor();
    await screenshot(page, "key-details");
  });

  it("sets the key's rate limit, refusing a bad one, and takes it off again", async () => {
    await dismissNotifications(page);
    const form = page.getByRole("form", { name: "Edit key" });
    const fact = page.getByText("Rate limit", { exact: true }).locator("..");
    expect(await fact.innerText()).toContain("None");
    await form.getByLabel("Limit requests").check();
    await form.getByLabel("Requests", { exact: true }).fill(""); // (out-of-range numbers are clamped as typed)
    await form.getByRole("button", { name: "Save changes" }).click();
    await form.getByText(/^Requests must be a whole number/).waitFor();
    await form.getByLabel("Requests", { exact: true }).fill("2");
    await form.getByLabel("Per window (seconds)").fill("60");
    await form.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Key saved").waitFor();
    await page.reload();
    await page.getByRole("heading", { name: "ci-deploy-edited" }).waitFor();
    await expect.poll(() => fact.innerText()).toContain("2 requests per 60 s");
    expect(await form.getByLabel("Requests", { exact: true }).inputValue()).toBe("2");
    await form.getByLabel("Limit requests").uncheck();
    await form.getByRole("button", { name: "Save changes" }).click();
    await expect.poll(() => fact.innerText()).toContain("None");
  });

  it("regenerates the secret: the old one stops, the new one works", async () => {
    await page.getByRole("button", { name: "Regenerate" }).click();
    const dialog = page.getByRole("dialog", { name: "Regenerate secret" });
    await dialog.getByLabel("Stop the old secret now").check();
    await dialog.getByRole("button", { name: "Regenerate" }).click();
    const { shown } = await takeSecret(page);
    expect(shown).not.toBe(secret);
    await closeSecret(page);
    expect(await withKey(server.url, secret, "GET", `/v1/orgs/${orgId}/projects`)).toBe(401);
    secret = shown;
    expect(await withKey(server.url, secret, "GET", `/v1/orgs/${orgId}/projects`)).toBe(200);
  });

  it("disables and re-enables the key, keeping what was being typed in its settings", async () => {
    const description = page.getByRole("form", { name: "Edit key" }).getByLabel("Description");
    await description.fill("half-written note");
    await page.getByRole("button", { name: "Disable" }).click();
    await page.getByRole("button", { name: "Enable" }).waitFor();
    // The form was started again on the key's new version, and the typing was lost.
    expect(await description.inputValue()).toBe("half-written note");
    await page.getByText("disabled", { exact: true }).first().waitFor();
    expect(await withKey(server.url, secret, "GET", `/v1/orgs/${orgId}/projects`)).toBe(401);
    await page.getByRole("button", { name: "Enable" }).click();
    await page.getByRole("button", { name: "Disable" }).waitFor();
    expect(await withKey(server.url, secret, "GET", `/v1/orgs/${orgId}/projects`)).toBe(200);
  });

  it("deletes the key only after DELETE is typed", async () => {
    await page.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog");
    const confirm = dialog.getByLabel("Type DELETE to confirm");
    await confirm.fill("delete");
    expect(await dialog.getByRole("button", { name: "Delete" }).isDisabled()).toBe(true);
    await confirm.fill("DELETE");
    await dialog.getByRole("button", { name: "Delete" }).click();
    await page.waitForURL(`**/o/${orgId}/keys`);
    await page.getByText("No API keys yet").waitFor();
    expect(await withKey(server.url, secret, "GET", `/v1/orgs/${orgId}/projects`)).toBe(401);
  });

  it("enforces the org's expiry policy in the create form", async () => {
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByLabel("Require an expiry on new keys").check({ force: true });
    await page.getByLabel("Maximum key lifetime (days)").fill("30");
    await saveSettings(page);

    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").fill("short-lived");
    expect(await dialog.getByLabel("Expires").isChecked()).toBe(true);
    expect(await dialog.getByLabel("Expires").isDisabled()).toBe(true);
    const expiry = dialog.getByLabel("Expiry date");
    await expiry.fill(day(60));
    await expiry.press("Tab");
    await dialog.getByRole("button", { name: "Create key" }).click();
    await dialog.getByText("may live at most 30 days").waitFor();
    await expiry.fill(day(10));
    await expiry.press("Tab");
    await dialog.getByRole("button", { name: "Create key" }).click();
    shortLived = (await takeSecret(page)).shown;
    await closeSecret(page);
    const row = page.getByRole("row", { name: /short-lived/ });
    await row.waitFor();
    expect(await row.innerText()).not.toContain("Never");
  });

  it("manages projects, service accounts and roles, and shows the audit log", async () => {
    await page.getByRole("link", { name: "Projects" }).click();
    await page.getByRole("button", { name: "Create project" }).click();
    await page.getByRole("dialog").getByLabel("Name").fill("alpha");
    await page.getByRole("dialog").getByRole("button", { name: "Create project" }).click();
    await page.getByRole("cell", { name: "alpha", exact: true }).waitFor();
    await screenshot(page, "projects");

    await page.getByRole("link", { name: "Service accounts" }).click();
    await page.getByRole("button", { name: "Create service account" }).click();
    await page.getByRole("dialog").getByLabel("Name").fill("reporter");
    await page.getByRole("dialog").getByRole("button", { name: "Create service account" }).click();
    await page.getByRole("cell", { name: "reporter", exact: true }).waitFor();
    await screenshot(page, "service-accounts");

    await page.getByRole("link", { name: "Roles" }).click();
    await page.getByRole("button", { name: "Create role" }).click();
    const roleDialog = page.getByRole("dialog", { name: "Create role" });
    await roleDialog.getByLabel("Name").fill("deployer");
    await roleDialog.getByRole("button", { name: "Write all compute" }).click();
    await roleDialog.getByRole("button", { name: "Create role" }).click();
    await page
      .getByRole("row", { name: /deployer/ })
      .getByText("compute:write")
      .waitFor();
    await screenshot(page, "roles");

    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByLabel("Action").fill("api_key.*");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByRole("cell", { name: "api_key.delete" }).first().waitFor();
    await screenshot(page, "audit");

    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByLabel("Restrict API key creation").waitFor();
    await screenshot(page, "settings");
    await page.getByRole("link", { name: "Members" }).click();
    await page.getByRole("cell", { name: server.email }).waitFor();
    await screenshot(page, "members");
  });

  it("creates a key owned by a service account and lists it under the service-account view", async () => {
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").fill("reporter-key");
    await dialog.getByText("Service account", { exact: true }).click();
    await dialog.getByRole("combobox", { name: "Owning service account" }).click();
    await page.getByRole("option", { name: "reporter" }).click();
    await dialog.getByLabel("Expiry date").fill(day(5));
    await dialog.getByLabel("Expiry date").press("Tab");
    await dialog.getByRole("button", { name: "Create key" }).click();
    await takeSecret(page);
    await closeSecret(page);
    expect(await page.getByRole("link", { name: "reporter-key" }).count()).toBe(0);
    await page.getByRole("combobox", { name: "View" }).click();
    await page.getByRole("option", { name: "All service-account keys" }).click();
    const row = page.getByRole("row", { name: /reporter-key/ });
    await row.waitFor();
    expect(await row.innerText()).toContain("Service account");

    // From the service account's row straight to its keys.
    await page.getByRole("link", { name: "Service accounts" }).click();
    await page.getByRole("link", { name: "Keys of reporter" }).click();
    await page.getByRole("link", { name: "reporter-key" }).waitFor();
    expect(await page.getByRole("combobox", { name: "View" }).inputValue()).toBe("Keys of reporter");
  });

  it("creates a second organization and switches between them", async () => {
    await page.getByRole("button", { name: "Account menu" }).click();
    await page.getByRole("menuitem", { name: "New organization" }).click();
    await page.getByLabel("Organization name").fill("Second org");
    await page.getByRole("button", { name: "Create organization" }).click();
    await page.getByText("No API keys yet").waitFor();
    expect(orgIdOf(page)).not.toBe(orgId);
    await page.getByRole("combobox", { name: "Organization" }).click();
    await page.getByRole("option", { name: "Operator" }).click();
    await page.getByRole("link", { name: "short-lived" }).waitFor();
    expect(orgIdOf(page)).toBe(orgId);
  });

  it("charts a key's verifications on its page (usage chart loaded lazily)", async () => {
    // The owner of the operator org may call /v1/verify (iam:apikeys:verify) with a session token.
    const login = await fetch(`${server.url}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: server.email, password: PASSWORD }),
    });
    const { token } = (await login.json()) as { token: string };
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${server.url}/v1/verify`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ key: shortLived }),
      });
      expect(((await res.json()) as { valid: boolean }).valid).toBe(true);
    }
    await page.getByRole("link", { name: "short-lived" }).click();
    await page.getByText("3 requests in the last 24 hours").waitFor();
    await page.locator(".recharts-surface").first().waitFor();
    await screenshot(page, "key-usage");
  });

  it("works in a narrow (390 px) window", async () => {
    const narrow = await context.newPage();
    await narrow.setViewportSize({ width: 390, height: 844 });
    await narrow.goto(`/o/${orgId}/keys`);
    await narrow.getByRole("heading", { name: "API keys" }).waitFor();
    await narrow.getByRole("button", { name: "Toggle navigation" }).click();
    await narrow.getByRole("link", { name: "Projects" }).click();
    await narrow.getByRole("heading", { name: "Projects" }).waitFor();
    await screenshot(narrow, "projects-narrow");
    await narrow.goto(`/o/${orgId}/keys`);
    await narrow.getByRole("button", { name: "Create key" }).click();
    await narrow.getByRole("dialog", { name: "Create API key" }).getByLabel("Name").waitFor();
    await screenshot(narrow, "create-key-narrow");
    await narrow.close();
  });

  it("loads nothing from other hosts", () => {
    expect(chrome.foreign).toEqual([]);
  });
});
