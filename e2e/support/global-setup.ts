import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CHROMIUM, chromiumMissing } from "./browser";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const consoleDir = path.join(root, "packages/console");

/** Newest modification time under a directory (the console's sources). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Builds the console when dist/ is missing or older than its sources, so the server serves
 * what is being tested at `/`.
 */
export default function setup() {
  if (chromiumMissing()) return;
  const index = path.join(consoleDir, "dist/index.html");
  const stale =
    !existsSync(index) ||
    statSync(index).mtimeMs <
      Math.max(newest(path.join(consoleDir, "src")), statSync(path.join(consoleDir, "index.html")).mtimeMs);
  if (stale) {
    console.log("e2e: building the console (packages/console/dist)…");
    execFileSync("npm", ["run", "build", "-w", "@keyward/console"], { cwd: root, stdio: "inherit" });
    if (!existsSync(index)) throw new Error(`console build did not produce ${index}`);
  }
  console.log(`e2e: using ${CHROMIUM}`);
}
