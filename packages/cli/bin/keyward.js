#!/usr/bin/env node
// Runs the CLI's TypeScript sources through tsx, so a fresh clone works after `npm ci`
// without a build step. tsconfig.json maps @keyward/sdk to the SDK's sources.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
const { run } = await import("../src/main.ts");
process.exitCode = await run(process.argv.slice(2));
