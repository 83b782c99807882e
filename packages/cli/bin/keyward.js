#!/usr/bin/env node
// Runs the CLI's TypeScript sources through tsx, so a fresh clone works after `npm ci`
// without a build step. tsconfig.json maps @keyward/sdk to the SDK's sources.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
// Output piped into a reader that stopped early (`keyward token … | head -c 20`): nothing left to say.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});
const { run } = await import("../src/main.ts");
process.exitCode = await run(process.argv.slice(2));
