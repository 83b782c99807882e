import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CHROMIUM, chromiumMissing } from "./browser";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Builds the console once when dist/ is missing, so the server has something to serve at `/`. */
export default function setup() {
  if (chromiumMissing()) return;
  const dist = path.join(root, "packages/console/dist/index.html");
  if (existsSync(dist) && !process.env.E2E_REBUILD) return;
  console.log("e2e: building the console (packages/console/dist)…");
  execFileSync("npm", ["run", "build", "-w", "@keyward/console"], { cwd: root, stdio: "inherit" });
  if (!existsSync(dist)) throw new Error(`console build did not produce ${dist}`);
  console.log(`e2e: using ${CHROMIUM}`);
}
