import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import proxyAddr from "@fastify/proxy-addr";
import Type, { type Static } from "typebox";
import Value from "typebox/value";
import { PERMISSION_NAME, PERMISSION_PATTERN, matches } from "./domain/permissions/match.js";
import { SCHEMA_NAME } from "./store/db.js";
import { IAM_PERMISSIONS, type PermissionDef } from "./domain/permissions/catalog.js";

/** The operator's config file (`KEYWARD_CONFIG`, default `./keyward.config.json` when present). */
export const configFileSchema = Type.Object(
  {
    permissions: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ pattern: PERMISSION_NAME.source }),
            description: Type.String({ maxLength: 500 }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 2000 },
      ),
    ),
    /** Product permissions the built-in `member` role carries (patterns allowed). */
    memberPermissions: Type.Optional(
      Type.Array(Type.String({ pattern: PERMISSION_PATTERN.source }), { maxItems: 500 }),
    ),
  },
  { additionalProperties: false },
);
export type ConfigFile = Static<typeof configFileSchema>;

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string;
  /** PostgreSQL schema to use (tests run each in its own). */
  databaseSchema?: string;
  /** PostgreSQL: how long to wait to connect, for a free connection, or for a statement's answer (0: no limit). */
  databaseTimeoutMs: number;
  /** How long a request may take to arrive whole (headers and body); past it, 408 (ms). */
  requestTimeoutMs: number;
  adminEmail?: string;
  adminPassword?: string;
  /** Server pepper for key HMACs and encryption; generated into dataDir when unset. */
  secret?: string;
  /** The prefix of new keys' secrets. */
  keyPrefix: string;
  /** Every prefix a presented secret may have: `keyPrefix` first, then earlier ones still accepted. */
  keyPrefixes: string[];
  redisUrl?: string;
  trustedProxies: string[];
  logLevel: string;
  /** Log each `POST /v1/verify` request (off: they are counted in /metrics; logging them added 30-40 % to verify's CPU). */
  logVerifyRequests: boolean;
  /** Most resolved keys the verification cache holds (past it, keys not used lately go first). */
  cacheKeys: number;
  /** Days of hourly usage counts kept (older ones are deleted every hour); 0 keeps them all. */
  usageRetentionDays: number;
  sessionTtlSeconds: number;
  allowOrgCreation: boolean;
  publicUrl: string;
  permissions: PermissionDef[];
  memberPermissions: string[];
  configFile?: string;
}

export class ConfigError extends Error {}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function readConfigFile(file: string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError(`Config file ${file}: cannot read JSON (${(err as Error).message})`);
  }
  if (!Value.Check(configFileSchema, raw)) {
    const problems = [...Value.Errors(configFileSchema, raw)]
      .slice(0, 5)
      .map((e) => `${e.instancePath || "/"} ${e.message}`)
      .join("; ");
    throw new ConfigError(`Config file ${file} is invalid: ${problems}`);
  }
  const names = new Set<string>();
  for (const p of raw.permissions ?? []) {
    if (p.name.startsWith("iam:")) throw new ConfigError(`Config file ${file}: ${p.name} is reserved (iam:*)`);
    if (names.has(p.name)) throw new ConfigError(`Config file ${file}: ${p.name} is declared twice`);
    names.add(p.name);
  }
  // The member role carries product permissions only: an iam:* one (say iam:orgs:delete) would
  // hand every member an administrator's power, and a typo would silently grant nothing.
  for (const pattern of raw.memberPermissions ?? []) {
    const hits = [...names].filter((n) => matches(pattern, n));
    if (hits.length === 0 || IAM_PERMISSIONS.some((iam) => matches(pattern, iam.name))) {
      throw new ConfigError(
        `Config file ${file}: memberPermissions entry "${pattern}" must name permissions of "permissions" (not iam:*)`,
      );
    }
  }
  return raw;
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

/** A yes/no setting in any of its usual spellings; anything else is refused, not taken as a default. */
function boolEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = raw.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

/**
 * KEYWARD_REDIS_URL: redis:// or rediss://. Anything else (`rediss//:pw@host`) the client takes
 * for a socket path, and its connection errors would log the password.
 */
function redisUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || /^rediss?:\/\/[^\s]+$/i.test(raw)) return raw;
  throw new ConfigError("KEYWARD_REDIS_URL must be a redis:// or rediss:// URL");
}

/** KEYWARD_DATABASE_URL: postgres:// (or postgresql://), or a SQLite file path (sqlite:// optional); any other scheme is a typo. */
function databaseUrl(raw: string): string {
  // Exactly as written: `POSTGRES://` would not be read as PostgreSQL, but as a file name.
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1];
  if (scheme && scheme !== "postgres" && scheme !== "postgresql" && scheme !== "sqlite") {
    throw new ConfigError(`KEYWARD_DATABASE_URL must be postgres://… or a SQLite file path, got a ${scheme}:// URL`);
  }
  return raw;
}

/** KEYWARD_TRUSTED_PROXIES: a comma-separated list, each entry checked as the server will read it. */
function trustedProxies(raw: string): string[] {
  const list = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of list) {
    try {
      proxyAddr.compile(entry);
    } catch (err) {
      throw new ConfigError(
        `KEYWARD_TRUSTED_PROXIES: "${entry}" is not an IP address, a CIDR range (a prefix of at least 1) ` +
          `or loopback/linklocal/uniquelocal (${(err as Error).message})`,
      );
    }
  }
  return list;
}

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

/** Parses the environment (and the config file it names) once, at boot. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.KEYWARD_DATA_DIR ?? "data");
  const configFile = env.KEYWARD_CONFIG ?? (existsSync("keyward.config.json") ? "keyward.config.json" : undefined);
  if (configFile && !existsSync(configFile)) throw new ConfigError(`KEYWARD_CONFIG: ${configFile} does not exist`);
  const file = configFile ? readConfigFile(configFile) : {};
  const port = intEnv(env, "KEYWARD_PORT", 8080, 0, 65535);
  // The first prefix names new keys; every one listed is accepted (keys issued before a change).
  const keyPrefixes = (env.KEYWARD_KEY_PREFIX || "kw").split(",").map((p) => p.trim());
  if (keyPrefixes.some((p) => !/^[a-z][a-z0-9]{0,11}$/.test(p))) {
    throw new ConfigError(
      "KEYWARD_KEY_PREFIX must be 1-12 lower-case letters or digits, starting with a letter (or a comma-separated list of such)",
    );
  }
  const keyPrefix = keyPrefixes[0];
  if (env.KEYWARD_SECRET !== undefined && env.KEYWARD_SECRET.length < 32) {
    throw new ConfigError("KEYWARD_SECRET must be at least 32 characters");
  }
  const logLevel = env.KEYWARD_LOG_LEVEL || "info";
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`KEYWARD_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  }
  const databaseSchema = env.KEYWARD_DATABASE_SCHEMA || undefined;
  if (databaseSchema && !SCHEMA_NAME.test(databaseSchema)) {
    throw new ConfigError(
      `KEYWARD_DATABASE_SCHEMA must be a lower-case PostgreSQL name (letters, digits, _), got "${databaseSchema}"`,
    );
  }
  return {
    port,
    host: env.KEYWARD_HOST ?? "0.0.0.0",
    dataDir,
    databaseUrl: databaseUrl(env.KEYWARD_DATABASE_URL || path.join(dataDir, "keyward.db")),
    databaseSchema,
    databaseTimeoutMs: intEnv(env, "KEYWARD_DATABASE_TIMEOUT_MS", 10_000, 0, 3_600_000),
    requestTimeoutMs: intEnv(env, "KEYWARD_REQUEST_TIMEOUT_MS", 30_000, 1_000, 3_600_000),
    adminEmail: env.KEYWARD_ADMIN_EMAIL,
    adminPassword: env.KEYWARD_ADMIN_PASSWORD,
    secret: env.KEYWARD_SECRET,
    keyPrefix,
    keyPrefixes,
    redisUrl: redisUrl(env.KEYWARD_REDIS_URL || undefined),
    trustedProxies: trustedProxies(env.KEYWARD_TRUSTED_PROXIES ?? ""),
    logLevel,
    logVerifyRequests: boolEnv(env, "KEYWARD_LOG_VERIFY_REQUESTS", false),
    cacheKeys: intEnv(env, "KEYWARD_CACHE_KEYS", 100_000, 1, 100_000_000),
    usageRetentionDays: intEnv(env, "KEYWARD_USAGE_RETENTION_DAYS", 400, 0, 36_500),
    sessionTtlSeconds: intEnv(env, "KEYWARD_SESSION_TTL_HOURS", 12, 1, 24 * 30) * 3600,
    allowOrgCreation: boolEnv(env, "KEYWARD_ALLOW_ORG_CREATION", true),
    publicUrl: env.KEYWARD_PUBLIC_URL ?? `http://localhost:${port}`,
    permissions: file.permissions ?? [],
    memberPermissions: file.memberPermissions ?? [],
    configFile,
  };
}
