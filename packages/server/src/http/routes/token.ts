import { looksLikeId } from "../../domain/ids.js";
import { MAX_CREDENTIAL_LENGTH } from "../../domain/keys/secret.js";
import type { FastifyReply } from "fastify";
import { AppError } from "../../domain/errors.js";
import { type DenyCode, type ResolvedKey, keptProjects } from "../../domain/keys/decide.js";
import { atProject } from "../../domain/keys/effective.js";
import { PERMISSION_NAME } from "../../domain/permissions/match.js";
import type { Services } from "../../services/index.js";
import { DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL } from "../../services/tokens/token-service.js";
import type { App } from "../app.js";
import { JWKS_MAX_AGE_SECONDS } from "../../services/tokens/signing-keys.js";
import { registerFormBody } from "../form-body.js";
import { errorHandler, problemOf } from "../problem.js";
import { errorResponses } from "../schemas/common.js";
import { IntrospectBody, IntrospectResponse, OAuthError, TokenBody, TokenResponse } from "../schemas/verify.js";

/**
 * Whether a key (as narrowed by a token) holds a permission where it may act: in one of the
 * projects it is kept to (`kept`, those that still exist), or, kept to none, org-wide or in
 * any project.
 */
function holdsWhereItActs(key: ResolvedKey, kept: string[] | null, permission: string): boolean {
  const scopes = { org: key.permissions, projects: key.projectPermissions };
  if (kept) return kept.some((id) => atProject(scopes, id).has(permission));
  return key.permissions.has(permission) || [...key.projectPermissions.values()].some((set) => set.has(permission));
}

export const APIKEY_GRANT = "urn:keyward:params:oauth:grant-type:apikey";

/**
 * Errors of /v1/token follow OAuth 2.0 (RFC 6749 §5.2): `400 {error, error_description}`,
 * not problem+json, so off-the-shelf OAuth clients understand them.
 */
function oauthError(reply: FastifyReply, status: number, error: string, description: string) {
  return reply.status(status).header("cache-control", "no-store").send({ error, error_description: description });
}

const GRANT_ERRORS: Partial<Record<DenyCode, [string, string]>> = {
  INSUFFICIENT_PERMISSIONS: ["invalid_scope", "The key does not hold every permission in scope"],
  READ_ONLY: ["invalid_scope", "The key is read-only: scope may name read permissions only"],
  PROJECT_NOT_ALLOWED: ["invalid_scope", "The key may not act in that project"],
};

export async function tokenRoutes(app: App, s: Services) {
  app.get(
    "/.well-known/jwks.json",
    {
      config: { ignoresCallerCredential: true },
      schema: {
        tags: ["tokens"],
        summary: "Public keys that sign exchanged tokens (JWKS)",
        description: "Retired keys stay listed until every token they signed has expired. Refetch on an unknown `kid`.",
        security: [],
      },
    },
    async (_req, reply) => {
      reply.header("cache-control", `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      return s.verify.tokens.signingKeys.jwks();
    },
  );

  // Form bodies are accepted here only (OAuth clients send them); the rest of the API is JSON.
  await app.register(async (scope) => {
    registerFormBody(scope);
    const api = scope as unknown as App;

    api.post(
      "/v1/token",
      {
        config: { carriesCredential: true, ignoresCallerCredential: true },
        attachValidation: true,
        // A body that cannot be read as a request (bad JSON, a form parameter sent twice) is an
        // OAuth invalid_request too; only transport failures (413, 415) stay problem+json.
        errorHandler: (err, req, reply) => {
          const p = problemOf(err, req.id, req.log);
          if (p.status !== 400) return errorHandler(err, req, reply);
          return oauthError(reply, 400, "invalid_request", (JSON.parse(p.body) as { detail: string }).detail);
        },
        schema: {
          tags: ["tokens"],
          summary: "Exchange an API key for a short-lived signed token",
          description:
            `Form (\`application/x-www-form-urlencoded\`) or JSON. \`grant_type=${APIKEY_GRANT}\`, \`apikey\`, optional \`scope\` (space-separated permissions), ` +
            "`projectId` and `expires_in` (seconds, default 900, at most 3600) narrow the token; it never carries more than the key. " +
            "Errors follow RFC 6749 §5.2: `400 {error, error_description}` (invalid_request, invalid_grant, invalid_scope, unsupported_grant_type); 429 `rate_limited`.",
          security: [],
          body: TokenBody,
          response: { ...errorResponses(413, 415), 200: TokenResponse, 400: OAuthError, 429: OAuthError },
        },
      },
      async (req, reply) => {
        reply.header("cache-control", "no-store").header("pragma", "no-cache");
        const body = (req.body ?? {}) as Record<string, unknown>;
        if (req.validationError) {
          if (typeof body.grant_type === "string" && body.grant_type !== APIKEY_GRANT) {
            return oauthError(reply, 400, "unsupported_grant_type", `grant_type must be ${APIKEY_GRANT}`);
          }
          return oauthError(reply, 400, "invalid_request", req.validationError.message);
        }
        const { grant_type, apikey, scope: rawScope, projectId } = req.body;
        if (grant_type !== APIKEY_GRANT)
          return oauthError(reply, 400, "unsupported_grant_type", `grant_type must be ${APIKEY_GRANT}`);
        const ttl = req.body.expires_in === undefined ? DEFAULT_TOKEN_TTL : Number(req.body.expires_in);
        if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL) {
          return oauthError(reply, 400, "invalid_request", `expires_in must be 1-${MAX_TOKEN_TTL} seconds`);
        }
        const scopeList = rawScope === undefined ? undefined : [...new Set(rawScope.split(" ").filter(Boolean))];
        if (scopeList?.some((p) => !PERMISSION_NAME.test(p))) {
          return oauthError(
            reply,
            400,
            "invalid_scope",
            "scope must list concrete permission names separated by spaces",
          );
        }
        if (projectId !== undefined && !looksLikeId("prj", projectId)) {
          return oauthError(reply, 400, "invalid_request", "projectId must be a project id");
        }

        const v = s.verify;
        const hit = v.resolveSecret(apikey);
        const entry = hit instanceof Promise ? await hit : hit;
        const now = s.deps.now();
        // The key is checked as a request from the caller's own address, in the requested project.
        // A previous secret past its grace period is refused here too (credentialDenial).
        const d = await v.decidePlaced(
          entry?.key ?? null,
          { ip: req.ctx.ip, projectId: projectId ?? null, permissions: scopeList },
          now,
        );
        if (!d.valid || !entry) {
          const code = d.valid ? "NOT_FOUND" : d.code;
          if (code === "PROJECT_NOT_ALLOWED" && !projectId)
            return oauthError(
              reply,
              400,
              "invalid_request",
              "The key acts only in its allowed projects: name one (projectId)",
            );
          const [error, description] = GRANT_ERRORS[code] ?? ["invalid_grant", `API key rejected (${code})`];
          return oauthError(reply, 400, error, description);
        }
        const key = entry.key;
        // Where the token acts: the project asked for, or for a key kept to projects (a project
        // key's, or one with allowedProjects) the one the decision placed it in. A key that only
        // prefers a project, asked for none, acts org-wide, and so does its token: a request
        // naming no project is placed in that project (default_project), one naming another is
        // judged there (at Keyward; offline, an org-wide token is refused for a named project but that one).
        const projects = d.projectId && (projectId || keptProjects(key)) ? [d.projectId] : null;
        const issued = await v.tokens.issue(key, {
          perms: scopeList ?? d.permissions,
          projects,
          ttl,
          secretHash: v.secretHash(apikey),
        });
        // The key (or the secret's grace) ends within this second: a token would be born expired.
        if (issued.expires_in <= 0)
          return oauthError(reply, 400, "invalid_grant", "API key rejected (EXPIRED): it expires this second");
        // Issued only if Keyward itself takes it back as a credential.
        if (issued.access_token.length > MAX_CREDENTIAL_LENGTH) {
          return oauthError(
            reply,
            400,
            "invalid_scope",
            `The token (${issued.claims.perms.length} permissions, and the key's and the organization's IP lists) would be longer than a credential may be (${MAX_CREDENTIAL_LENGTH} characters): narrow it with scope`,
          );
        }
        if (d.ratelimit) {
          const r = await v.rateLimiter.consume(d.keyId, d.ratelimit, now.getTime());
          if (!r.allowed) {
            reply.header("retry-after", String(Math.max(1, Math.ceil((r.resetAt - now.getTime()) / 1000))));
            return oauthError(
              reply,
              429,
              "rate_limited",
              `The key's rate limit is exhausted until ${new Date(r.resetAt).toISOString()}`,
            );
          }
        }
        v.usage.record(d.keyId, req.ctx.ip, now.getTime());
        return {
          access_token: issued.access_token,
          token_type: issued.token_type,
          expires_in: issued.expires_in,
          scope: issued.scope,
        };
      },
    );

    api.post(
      "/v1/token/introspect",
      {
        config: { judgesCredentials: true }, // such a token is inactive
        schema: {
          tags: ["tokens"],
          summary: "Is a token active? (RFC 7662)",
          description:
            "For the platform's services (`iam:apikeys:verify`, like /v1/verify). Active means: signature good, not expired, and the key it came from is still active (not disabled, deleted or expired, owner still in the org).",
          body: IntrospectBody,
          response: { 200: IntrospectResponse, ...errorResponses(400, 401, 403, 413, 415) },
        },
      },
      async (req, reply) => {
        reply.header("cache-control", "no-store");
        if (!(await s.verify.mayVerify(req.ctx.actor))) {
          throw new AppError(
            "FORBIDDEN",
            "Missing permission iam:apikeys:verify (held only in the operator organization)",
          );
        }
        const t = await s.verify.resolveToken(req.body.token);
        if (!("key" in t)) return { active: false };
        const { key, claims } = t;
        const now = s.deps.now().getTime();
        // The key as the token narrowed it: its expiry is the token's end (see tokenEnd).
        const endsAt = key.expiresAt === null ? claims.exp * 1000 : Date.parse(key.expiresAt);
        const keyActive = key.status === "active" && key.ownerActive && endsAt > now;
        if (!keyActive) return { active: false };
        // Kept to projects: only those still of the key's org count. A token whose every
        // project was deleted can act nowhere (scope ""), as /v1/verify answers it.
        let kept = keptProjects(key);
        if (kept) {
          const live: string[] = [];
          for (const id of kept) if ((await s.verify.projectOrg(id)) === key.orgId) live.push(id);
          kept = live;
        }
        return {
          active: true,
          // What the token can still do: its permissions the key (as narrowed by it) still holds where it may act.
          scope: claims.perms.filter((p) => holdsWhereItActs(key, kept, p)).join(" "),
          client_id: claims.key_id,
          token_type: "Bearer",
          exp: Math.floor(endsAt / 1000),
          iat: claims.iat,
          sub: claims.sub,
          aud: claims.aud,
          iss: claims.iss,
          jti: claims.jti,
          org: claims.org,
          key_id: claims.key_id,
        };
      },
    );
  });
}
