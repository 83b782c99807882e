import { writeFileSync } from "node:fs";
import { GENERATED_FILE, generateTypes } from "./openapi.js";

const source = await generateTypes();
writeFileSync(GENERATED_FILE, source);
console.log(`wrote ${GENERATED_FILE}`);
