import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, chromiumMissing, launchChromium } from "../support/browser";
import { closeSecret, saveSettings, firstSignIn, screenshot, signIn, takeSecret } from "../support/console";
import { type RunningServer, startServer } from "../support/server";

const MEMBER = { email: "member@example.com", name: "Mia Member", password: "member-password-123" };

async function createKey(page: Page, name: string) {
  await page.getByRole("button", { name: "Create key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByRole("button", { name: "Create key" }).click();
  await takeSecret(page);
  await closeSecret(page);
  await page.getByRole("link", { name }).waitFor();
}

const keyNames = async (page: Page) => {
  await page.getByRole("table", { name: "API keys" }).waitFor();
  return (
    await page.getByRole("table", { name: "API keys" }).locator("tbody tr td:first-child").allInnerTexts()
  ).sort();
};

async function chooseView(page: Page, label: string) {
  await page.getByRole("combobox", { name: "View" }).click();
  await page.getByRole("option", { name: label, exact: true }).click();
}

/** Owner vs member: the admin View filter, invitations, and the restrictKeyCreation policy. */
describe.skipIf(chromiumMissing())("console: admin view and key policy", () => {
  let server: RunningServer;
  let owner: Session;
  let member: Session;
  let ownerPage: Page;
  let memberPage: Page;
  let inviteLink: string;

  beforeAll(async () => {
    server = await startServer();
    [owner, member] = await Promise.all([launchChromium(server.url), launchChromium(server.url)]);
    ownerPage = owner.context.pages()[0] ?? (await owner.context.newPage());
    memberPage = member.context.pages()[0] ?? (await member.context.newPage());
    ownerPage.setDefaultTimeout(30_000);
    memberPage.setDefaultTimeout(30_000);
  });
  afterAll(async () => {
    await Promise.all([owner?.close(), member?.close()]);
    await server?.stop();
  });

  it("the owner invites a member from the Members page", async () => {
    await firstSignIn(ownerPage, server.email, server.printedPassword, "owner-password-123");
    await createKey(ownerPage, "owner-key");
    await ownerPage.getByRole("link", { name: "Members" }).click();
    await ownerPage.getByRole("button", { name: "Invite member" }).click();
    const dialog = ownerPage.getByRole("dialog", { name: "Invite member" });
    await dialog.getByLabel("Email").fill("not-an-email");
    await dialog.getByRole("button", { name: "Send invitation" }).click();
    await dialog.getByText("Enter a valid email address").waitFor();
    await dialog.getByLabel("Email").fill(MEMBER.email);
    await dialog.getByRole("button", { name: "Send invitation" }).click();
    inviteLink = (await dialog.getByTestId("invitation-link").innerText()).trim();
    expect(inviteLink).toMatch(/\/invite\/inv_/);
    await dialog.getByRole("button", { name: "Done" }).click();
    await ownerPage.getByRole("cell", { name: MEMBER.email, exact: true }).waitFor();
  });

  it("the member accepts, signs in and sees only their own keys, without the View filter", async () => {
    await memberPage.goto(inviteLink);
    await memberPage.getByLabel("Your name").fill(MEMBER.name);
    await memberPage.getByLabel("Choose a password").fill(MEMBER.password);
    await memberPage.getByRole("button", { name: "Accept" }).click();
    await memberPage.getByText("You joined the organization").waitFor();
    await signIn(memberPage, MEMBER.email, MEMBER.password);
    await memberPage.getByRole("heading", { name: "API keys" }).waitFor();
    await memberPage.getByText("No API keys yet").waitFor();
    expect(await memberPage.getByRole("combobox", { name: "View" }).count()).toBe(0);
    await createKey(memberPage, "member-key");
    expect(await keyNames(memberPage)).toEqual(["member-key"]);
    await screenshot(memberPage, "keys-member");
  });

  it("the owner's View filter shows all user keys, and My keys only the owner's", async () => {
    await ownerPage.getByRole("link", { name: "API keys" }).click();
    expect(await keyNames(ownerPage)).toEqual(["owner-key"]);
    await chooseView(ownerPage, "All user keys");
    await ownerPage.getByRole("link", { name: "member-key" }).waitFor();
    expect(await keyNames(ownerPage)).toEqual(["member-key", "owner-key"]);
    const row = ownerPage.getByRole("row", { name: /member-key/ });
    expect(await row.innerText()).toContain(MEMBER.name);
    await screenshot(ownerPage, "keys");
    await chooseView(ownerPage, "My keys");
    await ownerPage.getByRole("link", { name: "member-key" }).waitFor({ state: "detached" });
    expect(await keyNames(ownerPage)).toEqual(["owner-key"]);
  });

  it("restrictKeyCreation blocks the owner (wildcard role) but not the member (explicit grant)", async () => {
    await ownerPage.getByRole("link", { name: "Settings" }).click();
    await ownerPage.getByLabel("Restrict API key creation").check({ force: true });
    await saveSettings(ownerPage);
    await ownerPage.getByRole("link", { name: "API keys" }).click();
    await ownerPage.getByText("Key creation is restricted").waitFor();
    expect(await ownerPage.getByRole("button", { name: "Create key" }).isDisabled()).toBe(true);
    await screenshot(ownerPage, "keys-restricted");

    await memberPage.reload();
    await memberPage.getByRole("heading", { name: "API keys" }).waitFor();
    await expect.poll(() => memberPage.getByRole("button", { name: "Create key" }).isEnabled()).toBe(true);
  });

  it("shows the server's policy error next to the field it names", async () => {
    await ownerPage.getByRole("link", { name: "Settings" }).click();
    await ownerPage.getByLabel("Maximum keys per user").fill("1");
    await saveSettings(ownerPage);

    await memberPage.getByRole("button", { name: "Create key" }).click();
    const dialog = memberPage.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").fill("second-key");
    await dialog.getByRole("button", { name: "Create key" }).click();
    await dialog.getByText("may have at most 1 keys").waitFor();
    await screenshot(memberPage, "create-key-policy-error");
  });

  it("the owner changes the member's role, then removes the member", async () => {
    await ownerPage.getByRole("link", { name: "Members" }).click();
    await ownerPage.getByRole("button", { name: `Change roles of ${MEMBER.email}` }).click();
    const dialog = ownerPage.getByRole("dialog", { name: `Roles of ${MEMBER.email}` });
    const roles = dialog.getByRole("combobox", { name: "Organization roles" });
    await roles.click();
    await roles.press("Backspace");
    await roles.fill("view");
    await ownerPage.getByRole("option", { name: "viewer" }).click();
    await roles.press("Tab");
    await dialog.getByRole("button", { name: "Save roles" }).click();
    await dialog.waitFor({ state: "hidden" });
    const row = ownerPage.getByRole("row", { name: new RegExp(MEMBER.email) });
    await expect.poll(() => row.innerText()).toContain("viewer");
    expect(await row.innerText()).not.toContain("member\n");

    // A viewer may not create keys; the console says so by disabling the button.
    await memberPage.reload();
    await memberPage.getByRole("heading", { name: "API keys" }).waitFor();
    await expect.poll(() => memberPage.getByRole("button", { name: "Create key" }).isDisabled()).toBe(true);

    await ownerPage.getByRole("button", { name: `Remove ${MEMBER.email}` }).click();
    const confirm = ownerPage.getByRole("dialog", { name: `Remove ${MEMBER.email}?` });
    await confirm.getByLabel("Type DELETE to confirm").fill("DELETE");
    await confirm.getByRole("button", { name: "Delete" }).click();
    await ownerPage.getByRole("row", { name: new RegExp(MEMBER.email) }).waitFor({ state: "detached" });
    await memberPage.reload();
    // Removed from their only org (their sessions may end too): no keys page for them any more.
    await memberPage.getByText("No organization yet").or(memberPage.getByText("Sign in to Keyward")).waitFor();
  });

  it("loads nothing from other hosts", () => {
    expect([...owner.foreign, ...member.foreign]).toEqual([]);
  });
});
