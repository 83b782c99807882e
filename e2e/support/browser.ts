import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type BrowserContext, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { type RunningServer, startServer } from "./server";

/** Debian's Chromium; never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * True when the browser is absent and the suite may be skipped: only outside CI.
 * In CI (CI=true) a missing browser is an error, so the browser tests cannot silently vanish.
 */
export function chromiumMissing(): boolean {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI) throw new Error(`e2e: ${CHROMIUM} is missing in CI (apt-get install chromium)`);
  console.warn(`\n*** e2e: SKIPPING browser tests: ${CHROMIUM} not found (apt-get install chromium) ***\n`);
  return true;
}

export interface Session {
  context: BrowserContext;
  /** Requests that left for another host than the server (must stay empty). */
  foreign: string[];
  close(): Promise<void>;
}

/**
 * One Chromium with a fresh profile (one signed-in user). Playwright passes the profile as
 * --user-data-dir itself, so it is not in `args`.
 */
export async function launchChromium(baseURL: string, viewport = { width: 1280, height: 900 }): Promise<Session> {
  const profile = mkdtempSync(path.join(os.tmpdir(), "kw-chromium-"));
  // Offline-quiet flags: without the network ones Chromium calls home on a closed network.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    baseURL,
    viewport,
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseURL });
  const foreign: string[] = [];
  context.on("request", (req) => {
    const url = req.url();
    if (url.startsWith("data:") || url.startsWith("blob:") || url.startsWith(baseURL)) return;
    foreign.push(url);
  });
  return {
    context,
    foreign,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A server and one Chromium tab for a describe block, started before its tests and stopped
 * after them. Read the fields inside tests (they are set in beforeAll).
 */
export function browserSuite(): { server: RunningServer; chrome: Session; page: Page } {
  const suite = {} as { server: RunningServer; chrome: Session; page: Page };
  beforeAll(async () => {
    suite.server = await startServer();
    suite.chrome = await launchChromium(suite.server.url);
    suite.page = suite.chrome.context.pages()[0] ?? (await suite.chrome.context.newPage());
    suite.page.setDefaultTimeout(30_000);
  });
  afterAll(async () => {
    await suite.chrome?.close();
    await suite.server?.stop();
  });
  return suite;
}
