import pino from "pino";
import type { Config } from "./config.js";
import { buildCatalog } from "./domain/permissions/catalog.js";
import { builtinRoles } from "./domain/permissions/roles.js";
import { type App, type AppOptions, buildApp, loggerOptions } from "./http/app.js";
import type { BearerResolver } from "./http/authenticate.js";
import { checkSecret, loadPepper } from "./services/bootstrap.js";
import type { Deps } from "./services/deps.js";
import { apiKeyBearer } from "./services/key-auth.js";
import { KeyEvents } from "./services/key-events.js";
import { type Services, buildServices } from "./services/index.js";
import { type Db, migrate, openDb } from "./store/db.js";

export interface Keyward {
  app: App;
  services: Services;
  db: Db;
  /** Stops the HTTP server (draining in-flight requests), then closes the database. */
  close(): Promise<void>;
}

/**
 * Composition root shared by main.ts and the tests: config -> db -> services -> app.
 */
export async function createKeyward(config: Config, opts: AppOptions & { now?: () => Date } = {}): Promise<Keyward> {
  const db = await openDb(config.databaseUrl, config.databaseSchema, { timeoutMs: config.databaseTimeoutMs });
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  // Services log like the app: same level, redaction and destination.
  const logOpts =
    opts.logger === false
      ? { level: "silent" }
      : ((opts.logger ?? loggerOptions(config.logLevel)) as pino.LoggerOptions & { stream?: pino.DestinationStream });
  const logger = logOpts.stream ? pino(logOpts, logOpts.stream) : pino(logOpts);
  const pepper = loadPepper(config);
  try {
    await checkSecret(db, pepper, new Date());
  } catch (err) {
    await db.close();
    throw err;
  }
  const deps: Deps = {
    db,
    config,
    catalog: buildCatalog(config.permissions),
    builtinRoles: builtinRoles(config.memberPermissions),
    pepper,
    logger,
    now: opts.now ?? (() => new Date()),
    keyEvents: new KeyEvents(),
  };
  const services = buildServices(deps);
  // `Authorization: Bearer kw_…`: API keys authenticate the management API too.
  // Resolved through the verification cache, so warm keys cost no database reads.
  const keySource = services.verify.keySource();
  const keyBearer = apiKeyBearer(deps, () => keySource);
  // Exchanged tokens (JWTs from POST /v1/token) authenticate the management API as well.
  const tokenBearer: BearerResolver = (token, ip) => services.verify.tokenActor(token, ip);
  const app = await buildApp(services, {
    ...opts,
    bearerResolvers: [keyBearer, tokenBearer, ...(opts.bearerResolvers ?? [])],
  });
  let closed = false;
  app.addHook("onClose", async () => {
    if (closed) return;
    closed = true;
    // Flushes aggregated usage while the database is still open.
    await services.verify.close().catch((err) => logger.error({ err }, "closing verification failed"));
    await db.close();
  });
  try {
    await services.verify.start();
  } catch (err) {
    await app.close();
    throw err;
  }
  return { app, services, db, close: () => app.close() };
}
