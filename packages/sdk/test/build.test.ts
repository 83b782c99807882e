import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { expect, it } from "vitest";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

it("builds to ESM with type declarations (tsup)", async () => {
  const out = mkdtempSync(path.join(pkg, ".build-test-"));
  try {
    const tsup = path.resolve(pkg, "../../node_modules/tsup/dist/cli-default.js");
    execFileSync(process.execPath, [tsup, "--out-dir", out, "--silent"], { cwd: pkg, stdio: "pipe" });
    const dts = readFileSync(path.join(out, "index.d.ts"), "utf8");
    for (const name of [
      "createKeywardClient",
      "KeywardError",
      "createVerifier",
      "keywardExpress",
      "keywardFastify",
      "keywardNode",
    ]) {
      expect(dts).toContain(name);
    }
    expect(dts).toContain('"/v1/orgs/{orgId}/api-keys"');
    const mod = await import(pathToFileURL(path.join(out, "index.js")).href);
    expect(typeof mod.createKeywardClient).toBe("function");
    expect(new mod.KeywardError({ type: "t", title: "x", status: 404, detail: "d", code: "NOT_FOUND" }).code).toBe(
      "NOT_FOUND",
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
