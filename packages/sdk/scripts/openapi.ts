/**
 * Builds the server's OpenAPI document in-process (temp SQLite dir, nothing listens) and
 * renders it to TypeScript with openapi-typescript. Used by `npm run generate` and by the
 * test that keeps src/generated/openapi.ts in step with the server.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import { createKeyward } from "../../server/src/compose.js";
import { loadConfig } from "../../server/src/config.js";

export const GENERATED_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/generated/openapi.ts");

export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-sdk-gen-"));
  try {
    const config = loadConfig({
      KEYWARD_DATA_DIR: dataDir,
      KEYWARD_SECRET: "sdk-generation-secret-not-used-for-anything-real",
      KEYWARD_LOG_LEVEL: "silent",
    });
    const kw = await createKeyward(config, { logger: false });
    try {
      await kw.app.ready();
      return JSON.parse(JSON.stringify(kw.app.swagger())) as Record<string, unknown>;
    } finally {
      await kw.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const HEADER = `/**
 * Generated from Keyward's OpenAPI document by packages/sdk/scripts/openapi.ts.
 * Do not edit: run \`npm run generate -w @keyward/sdk\`.
 */

`;

export async function renderTypes(doc: Record<string, unknown>): Promise<string> {
  // biome-ignore lint/suspicious/noExplicitAny: openapi-typescript's input type is a loose OpenAPI3 object
  const ast = await openapiTS(doc as any, { alphabetize: true, exportType: false });
  return HEADER + astToString(ast);
}

export async function generateTypes(): Promise<string> {
  return renderTypes(await buildOpenApiDocument());
}
