import { UsageError } from "./parse.js";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

export interface Profile {
  url: string;
  /** Session token from `keyward login` (email + password). */
  token?: string;
  /** An API key given at login through KEYWARD_API_KEY. */
  apiKey?: string;
  email?: string;
  /** Org used when a command gets no --org. */
  orgId?: string;
  expiresAt?: string;
}

export interface ConfigFile {
  current?: string;
  profiles: Record<string, Profile>;
}

/** `$XDG_CONFIG_HOME/keyward/config.json`, else `~/.config/keyward/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KEYWARD_CONFIG_FILE) return path.resolve(env.KEYWARD_CONFIG_FILE);
  const base = env.XDG_CONFIG_HOME || path.join(homedir(), ".config");
  return path.join(base, "keyward", "config.json");
}

export function readConfig(file = configPath()): ConfigFile {
  if (!existsSync(file)) return { profiles: {} };
  let raw: Partial<ConfigFile>;
  try {
    raw = JSON.parse(readFileSync(file, "utf8")) as Partial<ConfigFile>;
  } catch (err) {
    // Never taken for an empty file: the next login would write over every profile in it.
    throw new UsageError(`Cannot read ${file} (${(err as Error).message}): mend or remove it`);
  }
  return { current: raw?.current, profiles: raw?.profiles ?? {} };
}

/** Writes atomically with mode 0600 (the file holds credentials); the directory gets 0700. */
export function writeConfig(config: ConfigFile, file = configPath()): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export const profileName = (explicit?: string, config?: ConfigFile) =>
  explicit || process.env.KEYWARD_PROFILE || config?.current || "default";
