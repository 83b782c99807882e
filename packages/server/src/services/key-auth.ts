import { AppError } from "../domain/errors.js";
import { type ResolvedKey, credentialDenial, keptProjects } from "../domain/keys/decide.js";
import type { Actor, Deps } from "./deps.js";

/** Anything with `resolve(secret)`: the verification cache (VerifyService.keySource). */
export interface KeySource {
  resolve(secret: string): ResolvedKey | null | Promise<ResolvedKey | null>;
  /** Counts one use of the key (last used, hourly counts), in memory: no write on the request path. */
  recordUse?(keyId: string, ip: string | null, nowMs: number): void;
}

/** Actors of cached key objects: a warm key authenticates without building its actor again. */
const actors = new WeakMap<ResolvedKey, Exclude<Actor, { kind: "anonymous" }>>();

/** The actor an API key acts as, with the key's limits on top of its owner's grants. */
export function keyActor(key: ResolvedKey): Exclude<Actor, { kind: "anonymous" }> {
  const known = actors.get(key);
  if (known) return known;
  const actor = buildKeyActor(key);
  actors.set(key, actor);
  return actor;
}

function buildKeyActor(key: ResolvedKey): Exclude<Actor, { kind: "anonymous" }> {
  const limit = {
    orgId: key.orgId,
    permissions: key.keyPermissions,
    readOnly: key.readOnly,
    projects: keptProjects(key),
  };
  return { kind: key.owner.type, id: key.owner.id, credential: { type: "api_key", id: key.id }, limit };
}

/**
 * Bearer resolver for `Authorization: Bearer <prefix>_…`: the management API accepts API keys
 * (DESIGN §5). Tokens of another shape are left to other resolvers; a key that fails any
 * check (malformed, unknown, expired, disabled, owner gone, IP) answers 401.
 */
export function apiKeyBearer(deps: Deps, source: () => KeySource) {
  const prefixes = deps.config.keyPrefixes.map((p) => `${p}_`);
  const admit = (key: ResolvedKey | null, ip: string | null, keys: KeySource): Actor => {
    // Permissions and projects are enforced per route through the actor's limit (403), so
    // only the credential itself is decided here.
    const now = deps.now();
    const denied = credentialDenial(key, ip, now);
    if (denied !== null) throw new AppError("UNAUTHENTICATED", `API key rejected (${denied})`);
    // A key used on Keyward's own API is a use like any other: it shows under "last used".
    keys.recordUse?.((key as ResolvedKey).id, ip, now.getTime());
    return keyActor(key as ResolvedKey);
  };
  return (token: string, ip: string | null): Actor | null | Promise<Actor> => {
    if (!prefixes.some((p) => token.startsWith(p))) return null;
    const keys = source();
    const key = keys.resolve(token);
    return key instanceof Promise ? key.then((k) => admit(k, ip, keys)) : admit(key, ip, keys);
  };
}
