import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { PermissionDef } from "../domain/permissions/catalog.js";
import type { BuiltinRole } from "../domain/permissions/roles.js";
import type { Db } from "../store/db.js";
import type { KeyEvents } from "./key-events.js";

/** What every service is built from; assembled once in main.ts (or a test harness). */
export interface Deps {
  db: Db;
  config: Config;
  catalog: PermissionDef[];
  builtinRoles: BuiltinRole[];
  /** Server pepper (KEYWARD_SECRET or the generated one). */
  pepper: string;
  logger: Logger;
  now: () => Date;
  /** Emit after committing anything that changes how keys resolve. */
  keyEvents: KeyEvents;
}

/** Who acts, and through which credential. Filled by the HTTP auth layer. */
export type Actor =
  | {
      kind: "user";
      id: string;
      credential: Credential;
      /** Set when the credential is an API key or token: the key's limits. */
      limit?: CredentialLimit;
    }
  | { kind: "service_account"; id: string; credential: Credential; limit?: CredentialLimit }
  | { kind: "project"; id: string; credential: Credential; limit?: CredentialLimit }
  | { kind: "anonymous" };

export interface Credential {
  type: "session" | "api_key" | "token";
  /** Session id, key id or token id (jti): never the secret. */
  id: string;
  /** For a token: the id of the key it was exchanged from. */
  keyId?: string;
}

/** Limits a key (or a token from it) puts on top of its owner's grants. */
export interface CredentialLimit {
  orgId: string;
  /** Concrete permissions the key carries; null = all of the owner's. */
  permissions: Set<string> | null;
  readOnly: boolean;
  /** Projects the key may act in; null = any. */
  projects: string[] | null;
}

/** Per-request facts that go into audit events. */
export interface RequestCtx {
  actor: Actor;
  ip: string | null;
  userAgent: string | null;
  requestId: string;
}

export const iso = (d: Date) => d.toISOString();
