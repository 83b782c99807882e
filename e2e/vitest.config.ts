import { defineConfig } from "vitest/config";

/** Browser tests: a real server (SQLite) and Debian's Chromium, one file at a time. */
export default defineConfig({
  test: {
    include: ["**/*.spec.ts"],
    exclude: ["node_modules/**"],
    globalSetup: ["support/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
