import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

/** The console: a static SPA the Keyward server serves at `/` from dist/. */
export default defineConfig({
  plugins: [react()],
  base: "/",
  server: {
    // `npm run dev` talks to a Keyward server started separately (npm start).
    proxy: { "/v1": "http://127.0.0.1:8080" },
  },
  build: {
    outDir: "dist",
    chunkSizeWarningLimit: 1200,
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
  },
});
