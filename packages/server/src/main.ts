import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig } from "./config.js";
import { createKeyward } from "./compose.js";
import { bootstrap } from "./services/bootstrap.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** How long SIGTERM waits for requests in flight before closing their connections, in ms. */
const SHUTDOWN_GRACE_MS = 20_000;

/** Starts Keyward: config -> database -> first-start owner -> HTTP. */
export async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`keyward: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const consoleDir = path.resolve(here, "../../console/dist");
  let kw: Awaited<ReturnType<typeof createKeyward>>;
  try {
    kw = await createKeyward(config, { consoleDir });
  } catch (err) {
    // A setting the database refuses (another secret than it was made with).
    if (err instanceof ConfigError) {
      console.error(`keyward: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const first = await bootstrap(kw.db, config, new Date());

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    kw.app.log.info({ signal }, "shutting down: draining requests");
    // Requests in flight get SHUTDOWN_GRACE_MS to finish; then their connections are closed, so
    // no client (one that stopped sending, say) holds the exit. Usage is flushed either way.
    const grace = setTimeout(() => kw.app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    await kw.close();
    clearTimeout(grace);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  try {
    await kw.app.listen({ port: config.port, host: config.host });
  } catch (err) {
    // The owner exists now: its generated password is printed even if this start goes no
    // further (the port taken), or it would be lost for good.
    if (first) printFirstStart(first, config.port);
    throw err;
  }
  // After listening, so the printed URL has the real port (KEYWARD_PORT=0 picks one).
  if (first) printFirstStart(first, (kw.app.server.address() as AddressInfo).port);
}

function printFirstStart(first: { email: string; password?: string }, port: number) {
  // Printed once, to the terminal only (not the structured log).
  const lines = [
    "Keyward first start: an owner account and the operator organization were created.",
    `  console:  http://localhost:${port}/`,
    `  email:    ${first.email}`,
    first.password
      ? `  password: ${first.password}   (shown once; change it after signing in)`
      : "  password: the one in KEYWARD_ADMIN_PASSWORD",
  ];
  process.stdout.write(`\n${lines.join("\n")}\n\n`);
}

const entry = process.argv[1] ? path.resolve(process.argv[1]) : "";
if (entry === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error("keyward: failed to start:", err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
