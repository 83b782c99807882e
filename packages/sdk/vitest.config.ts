import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    // Each file starts its own Keyward subprocess; keep the 2-core machine calm.
    fileParallelism: false,
  },
});
