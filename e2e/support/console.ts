import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";

const shots = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../screenshots");

/** Saves e2e/screenshots/<name>.png (git-ignored) on every run. */
export async function screenshot(page: Page, name: string) {
  mkdirSync(shots, { recursive: true });
  await page.waitForLoadState("networkidle").catch(() => {});
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

export async function signIn(page: Page, email: string, password: string) {
  await page.goto("/");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** First sign-in with the printed password: the console insists on a new one. */
export async function firstSignIn(page: Page, email: string, printed: string, newPassword: string) {
  await signIn(page, email, printed);
  await page.getByText("Change the printed password").waitFor();
  await page.getByLabel("Current password").fill(printed);
  await page.getByLabel("New password", { exact: true }).fill(newPassword);
  await page.getByLabel("Repeat new password").fill(newPassword);
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByRole("heading", { name: "API keys" }).waitFor();
}

export const orgIdOf = (page: Page) => {
  const m = /\/o\/(org_[0-9A-Za-z]+)/.exec(page.url());
  if (!m) throw new Error(`no org in ${page.url()}`);
  return m[1];
};

/** Calls the API with an API key as bearer, from this test process (127.0.0.1). */
export async function withKey(baseUrl: string, secret: string, method: string, urlPath: string, body?: unknown) {
  const res = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${secret}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.status;
}

/** Reads the secret from the shown-once panel, copies it, and closes the panel after confirming. */
export async function takeSecret(page: Page): Promise<{ shown: string; copied: string }> {
  const dialog = page.getByRole("dialog");
  await dialog.getByText("will not be shown again").waitFor();
  const shown = (await dialog.getByTestId("key-secret").innerText()).trim();
  await dialog.getByRole("button", { name: "Copy secret" }).click();
  await dialog.getByRole("button", { name: "Copied" }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  return { shown, copied };
}

export async function closeSecret(page: Page) {
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("button", { name: "Done" }).click();
  await dialog.getByText("Close without the secret?").waitFor();
  await dialog.getByRole("button", { name: "Yes, close" }).click();
  await dialog.waitFor({ state: "hidden" });
}

/** Clicks "Save settings" and waits for the server to accept the change. */
export async function saveSettings(page: Page) {
  const saved = page.waitForResponse((r) => r.request().method() === "PATCH" && /\/v1\/orgs\/org_[^/]+$/.test(r.url()));
  await page.getByRole("button", { name: "Save settings" }).click();
  const res = await saved;
  if (res.status() !== 200) throw new Error(`saving settings failed: ${res.status()} ${await res.text()}`);
  await dismissNotifications(page);
}

/**
 * Closes toast notifications: they pause while hovered, so one sitting over a button the test
 * clicks next would never go away by itself.
 */
export async function dismissNotifications(page: Page) {
  const close = page.locator(".mantine-Notification-root button");
  await close
    .first()
    .waitFor({ timeout: 5000 })
    .catch(() => {});
  for (let i = 0; i < 10 && (await close.count()) > 0; i++) {
    await close
      .first()
      .click({ timeout: 2000 })
      .catch(() => {});
    await page.waitForTimeout(250);
  }
}
