/**
 * Test launcher: what packages/server/src/main.ts does (config → createKeyward → first-start
 * owner → listen), without serving the console build, so tests do not depend on whether
 * packages/console/dist exists.
 */
import { createKeyward } from "../../server/src/compose.js";
import { loadConfig } from "../../server/src/config.js";
import { bootstrap } from "../../server/src/services/bootstrap.js";

const config = loadConfig();
const kw = await createKeyward(config, {});
await bootstrap(kw.db, config, new Date());
const stop = async () => {
  await kw.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
await kw.app.listen({ port: config.port, host: config.host });
