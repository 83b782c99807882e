import { randomBytes } from "node:crypto";
import type { Config } from "@keyward/server/src/config.ts";
import type { Db } from "@keyward/server/src/store/db.ts";
import { Command } from "commander";
import { defaultIo, printJson } from "../output.js";
import { UsageError } from "../parse.js";
import { examples, readStdin } from "./util.js";

// These commands run the server's own code on the local database (same environment as
// `npm start`: KEYWARD_DATA_DIR, KEYWARD_DATABASE_URL, KEYWARD_CONFIG, …).
const server = (file: string) => import(`@keyward/server/src/${file}`);

async function localConfig() {
  const { loadConfig, ConfigError } = await server("config.ts");
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError((err as Error).message);
    throw err;
  }
}

async function withDb<T>(fn: (db: Db, config: Config) => Promise<T>): Promise<T> {
  const config: Config = await localConfig();
  const { openDb, migrate } = await server("store/db.ts");
  const db = await openDb(config.databaseUrl, config.databaseSchema);
  try {
    await migrate(db);
    return await fn(db, config);
  } finally {
    await db.close();
  }
}

export function serveCommand(): Command {
  return examples(
    new Command("serve")
      .description("run the Keyward server (same as npm start)")
      .option("--port <port>", "listen port (KEYWARD_PORT, default 8080)")
      .option("--host <host>", "listen address (KEYWARD_HOST, default 0.0.0.0)")
      .option("--data-dir <dir>", "where the SQLite database and secret live (KEYWARD_DATA_DIR, default ./data)")
      .addHelpText("after", "\nEvery KEYWARD_* environment variable of the server applies (see the main README)."),
    ["keyward serve", "keyward serve --port 9000 --data-dir /var/lib/keyward"],
  ).action(async (o: { port?: string; host?: string; dataDir?: string }) => {
    if (o.port) process.env.KEYWARD_PORT = o.port;
    if (o.host) process.env.KEYWARD_HOST = o.host;
    if (o.dataDir) process.env.KEYWARD_DATA_DIR = o.dataDir;
    const { main } = await server("main.ts");
    await main();
    // main() keeps the process alive until SIGINT/SIGTERM.
    await new Promise(() => {});
  });
}

export function migrateCommand(): Command {
  return examples(new Command("migrate").description("bring the local database schema up to date"), [
    "keyward migrate",
    "KEYWARD_DATABASE_URL=postgres://… keyward migrate",
  ]).action(async (_o: unknown, cmd: Command) => {
    const io = defaultIo(Boolean(cmd.optsWithGlobals().json));
    const where = await withDb(async (_db, config) =>
      config.databaseUrl.startsWith("postgres") ? "PostgreSQL" : config.databaseUrl,
    );
    if (io.json) printJson(io, { migrated: true, database: where });
    else io.out(`Database is up to date (${where})`);
  });
}

export function adminCommand(): Command {
  const admin = examples(new Command("admin").description("operator tasks on the local database (no API involved)"), [
    "keyward admin reset-password owner@example.com",
  ]);
  examples(
    admin
      .command("reset-password")
      .description("set a new password for a user and end their sessions")
      .argument("<email>")
      .option("--password-stdin", "read the new password from stdin (else one is generated and printed once)"),
    [
      "keyward admin reset-password owner@example.com",
      "echo 'a-new-long-password' | keyward admin reset-password me@example.com --password-stdin",
    ],
  ).action(async (email: string, o: { passwordStdin?: boolean }, cmd: Command) => {
    const io = defaultIo(Boolean(cmd.optsWithGlobals().json));
    let password: string;
    let generated = false;
    if (o.passwordStdin) {
      password = await readStdin();
      // The bounds login keeps (12 to 256 characters, counted as its schema counts them: code
      // points, not UTF-16 units): a longer one could be set but never used.
      const characters = [...password].length;
      if (characters < 12 || characters > 256) throw new UsageError("The password must be 12 to 256 characters");
    } else {
      password = randomBytes(15).toString("base64url");
      generated = true;
    }
    const { hashPassword } = await server("services/passwords.ts");
    const { writeAudit } = await server("services/audit.ts");
    const hash = await hashPassword(password);
    const normalised = email.trim().toLowerCase();
    await withDb(async (db) => {
      const user = await db.kysely
        .selectFrom("users")
        .select(["id"])
        .where("email", "=", normalised)
        .executeTakeFirst();
      if (!user) throw new UsageError(`No user with email ${normalised}`);
      await db.kysely.transaction().execute(async (trx) => {
        await trx
          .updateTable("users")
          .set({ password_hash: hash, must_change_password: generated ? 1 : 0, updated_at: new Date().toISOString() })
          .where("id", "=", user.id)
          .execute();
        await trx.deleteFrom("sessions").where("user_id", "=", user.id).execute();
        // The operator at the machine is no Keyward principal: the event says it came from here.
        await writeAudit(
          trx,
          { actor: { kind: "anonymous" }, ip: null, userAgent: "keyward admin reset-password", requestId: "cli" },
          new Date(),
          {
            orgId: null,
            action: "user.password.reset",
            target: { type: "user", id: user.id },
            details: { via: "keyward admin reset-password", generated },
          },
        );
      });
    });
    if (io.json) return printJson(io, { email: normalised, ...(generated ? { password } : {}) });
    io.out(`Password of ${normalised} was reset; their sessions were ended.`);
    if (generated) {
      io.out(`  new password: ${password}`);
      io.err("Shown once. The user should change it after signing in.");
    }
  });
  return admin;
}
