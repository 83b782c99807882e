import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Session, launchChromium } from "../support/browser";
import { closeSecret, firstSignIn, orgIdOf, takeSecret } from "../support/console";
import { type RunningServer, api, startServer } from "../support/server";

const OWNER_PW = "owner-password-123";
const B = { email: "bob@example.com", name: "Bob", password: "bob-password-1234" };
const PRIVATE = "owner-private-key-zz9";

/**
 * The console and the sessions it holds: what one user saw is not shown to the next on the same
 * tab, sign-out is only reported when it happened, invitations, and the pages' headers. The
 * tests run in order: each starts where the previous one left the tab.
 */
describe("console sessions", () => {
  let server: RunningServer;
  let s: Session;
  let page: Page;

  beforeAll(async () => {
    server = await startServer();
    s = await launchChromium(server.url);
    page = s.context.pages()[0] ?? (await s.context.newPage());
    page.setDefaultTimeout(30_000);
  });
  afterAll(async () => {
    await s?.close();
    await server?.stop();
  });

  it("serves the console with anti-framing, nosniff and referrer headers (invitation links carry a token)", async () => {
    const res = await fetch(`${server.url}/invite/inv_${"a".repeat(40)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    // The same on the console's own files.
    const root = await fetch(`${server.url}/`);
    expect(root.headers.get("x-frame-options")).toBe("DENY");
  });

  it("after a session ends, the next user signing in on the same tab never sees the previous user's data", async () => {
    await firstSignIn(page, server.email, server.printedPassword, OWNER_PW);
    const orgId = orgIdOf(page);
    // The owner creates a key only they (and admins) may see.
    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").fill(PRIVATE);
    await dialog.getByRole("button", { name: "Create key" }).click();
    await takeSecret(page);
    await closeSecret(page);
    await page.getByRole("link", { name: PRIVATE }).waitFor();

    // Bob is a plain member of the same org.
    const ownerToken = (
      await api(server.url, "POST", "/v1/auth/login", undefined, { email: server.email, password: OWNER_PW })
    ).body.token as string;
    const inv = await api(server.url, "POST", `/v1/orgs/${orgId}/invitations`, ownerToken, {
      email: B.email,
      roles: [{ roleId: "role_member" }],
    });
    expect(inv.status).toBe(201);
    const acc = await api(server.url, "POST", `/v1/invitations/${inv.body.token}/accept`, undefined, {
      name: B.name,
      password: B.password,
    });
    expect(acc.status).toBe(200);
    // As Bob, the server shows none of the owner's keys.
    const bobToken = (
      await api(server.url, "POST", "/v1/auth/login", undefined, { email: B.email, password: B.password })
    ).body.token as string;
    const bobKeys = await api(server.url, "GET", `/v1/orgs/${orgId}/api-keys?view=mine`, bobToken);
    expect(JSON.stringify(bobKeys.body)).not.toContain(PRIVATE);

    // The owner's browser session ends server-side (expiry, password changed elsewhere, admin reset).
    const cookie = (await s.context.cookies()).find((c) => c.name === "kw_session");
    expect(cookie).toBeTruthy();
    expect((await api(server.url, "POST", "/v1/auth/logout", cookie?.value)).status).toBe(204);

    // The owner's tab notices on its next request and shows the sign-in form.
    await page.getByRole("link", { name: "Members" }).click();
    await page.getByRole("heading", { name: "Sign in to Keyward" }).waitFor();

    // Record whether the owner's private key name is ever rendered from now on.
    await page.evaluate((needle) => {
      const w = window as unknown as { __seen: string[] };
      w.__seen = [];
      new MutationObserver(() => {
        if (document.body.innerText.includes(needle)) w.__seen.push(location.pathname);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    }, PRIVATE);

    // Bob signs in on the same tab (a shared computer) and opens the keys page.
    await page.getByLabel("Email").fill(B.email);
    await page.getByLabel("Password", { exact: true }).fill(B.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    await page.waitForLoadState("networkidle").catch(() => {});
    await page.waitForTimeout(1500);
    const seen = await page.evaluate(() => (window as unknown as { __seen: string[] }).__seen);
    expect(seen).toEqual([]);
  });

  it("a signed-in user who accepts an invitation sees the org they joined", async () => {
    // Bob is signed in on this tab (previous test). The owner creates a new org and invites him.
    const ownerToken = (
      await api(server.url, "POST", "/v1/auth/login", undefined, { email: server.email, password: OWNER_PW })
    ).body.token as string;
    const org = await api(server.url, "POST", "/v1/orgs", ownerToken, { name: "Joined Later Org" });
    expect(org.status).toBe(201);
    const inv = await api(server.url, "POST", `/v1/orgs/${org.body.id}/invitations`, ownerToken, {
      email: B.email,
      roles: [{ roleId: "role_member" }],
    });
    expect(inv.status).toBe(201);
    await page.goto(`/invite/${inv.body.token}`);
    await page.getByRole("button", { name: "Accept" }).click();
    await page.getByRole("heading", { name: "You joined the organization" }).waitFor();
    // Already signed in: no "Sign in" to go through again.
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    await page.getByRole("combobox", { name: "Organization" }).click();
    // Listed without a reload.
    await page.getByRole("option", { name: "Joined Later Org" }).waitFor({ timeout: 10_000 });
    await page.keyboard.press("Escape");
  });

  it("keeps a new key's secret out of storage, the URL and the page once its panel is closed", async () => {
    await page.goto("/");
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    await page.getByRole("button", { name: "Create key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.getByLabel("Name").fill("bob-secret-check");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const { shown } = await takeSecret(page);
    await closeSecret(page);
    const where = await page.evaluate((secret) => {
      const found: string[] = [];
      for (const [n, st] of [
        ["local", localStorage],
        ["session", sessionStorage],
      ] as const)
        for (let i = 0; i < st.length; i++) if (st.getItem(st.key(i) as string)?.includes(secret)) found.push(n);
      if (location.href.includes(secret)) found.push("url");
      if (document.documentElement.outerHTML.includes(secret)) found.push("dom");
      if (JSON.stringify(history.state ?? null).includes(secret)) found.push("history");
      return found;
    }, shown);
    expect(where).toEqual([]);
  });

  it("says when 'Sign out' did not reach the server, and stays signed in as the server has it", async () => {
    await page.goto("/");
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    // The logout request fails in transit (flaky network, proxy error, server restarting).
    await page.route("**/v1/auth/logout", (route) => route.abort("failed"));
    await page.getByRole("button", { name: "Account menu" }).click();
    await page.getByRole("menuitem", { name: "Sign out" }).click();
    // Said, and still signed in (as the server still has it).
    await page.getByText("Not signed out").waitFor();
    expect(await page.getByRole("heading", { name: "API keys" }).count()).toBe(1);
    await page.unroute("**/v1/auth/logout");
    // Once the server answers, signing out works.
    await page.getByRole("button", { name: "Account menu" }).click();
    await page.getByRole("menuitem", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to Keyward" }).waitFor();
    await page.reload();
    await page.getByRole("heading", { name: "Sign in to Keyward" }).waitFor();
  });
});
