import { describe, expect, it } from "vitest";
import { browserSuite, chromiumMissing } from "../support/browser";
import { closeSecret, firstSignIn, orgIdOf, takeSecret } from "../support/console";

// A user west of UTC (Chromium takes its time zone from TZ). Set before the browser starts.
process.env.TZ = "America/New_York";

/** A local date `days` from now as YYYY-MM-DD (what the date field takes). */
const day = (days: number) => {
  const d = new Date(Date.now() + days * 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
};

describe.skipIf(chromiumMissing())("key expiry dates in a time zone west of UTC", () => {
  const suite = browserSuite();

  it("the key page's Expiry date field shows the day that was picked at creation", async () => {
    await firstSignIn(suite.page, suite.server.email, suite.server.printedPassword, "owner-password-123");
    const orgId = orgIdOf(suite.page);
    expect(await suite.page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone)).toBe("America/New_York");
    const picked = day(10);
    await suite.page.getByRole("button", { name: "Create key" }).click();
    const dialog = suite.page.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").fill("tz-key");
    await dialog.getByLabel("Expires").check({ force: true });
    await dialog.getByLabel("Expiry date").fill(picked);
    await dialog.getByLabel("Expiry date").press("Tab");
    await dialog.getByRole("button", { name: "Create key" }).click();
    await takeSecret(suite.page);
    await closeSecret(suite.page);
    await suite.page.getByRole("link", { name: "tz-key" }).click();
    await suite.page.getByRole("heading", { name: "tz-key" }).waitFor();
    expect(suite.page.url()).toContain(`/o/${orgId}/keys/`);
    const form = suite.page.getByRole("form", { name: "Edit key" });
    // Before its fix: the field takes the UTC date of the stored instant (end of the picked day, local =
    // early next morning UTC), so it shows the day after the one picked and shown in "Expires".
    expect(await form.getByLabel("Expiry date").inputValue()).toBe(picked);
  });
});
