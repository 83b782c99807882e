import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { GENERATED_FILE, generateTypes } from "../scripts/openapi.js";

it("the committed API types match the server's current OpenAPI document", async () => {
  const fresh = await generateTypes();
  const committed = readFileSync(GENERATED_FILE, "utf8");
  if (committed !== fresh) {
    throw new Error(
      "packages/sdk/src/generated/openapi.ts is out of date with the server's OpenAPI document: run npm run generate -w @keyward/sdk",
    );
  }
  expect(committed).toContain("export interface paths");
}, 120_000);
