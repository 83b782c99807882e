import type { FastifyReply, FastifyRequest } from "fastify";
import Type from "typebox";
import { isReadPermission } from "../../domain/permissions/catalog.js";
import { regenerateKey } from "../../services/key-regenerate.js";
import type { Services } from "../../services/index.js";
import type { ApiKeyView } from "../../services/key-view.js";
import type { App } from "../app.js";
import {
  AllowedPermissions,
  ApiKeySchema,
  CreateKeyBody,
  KeyWithSecret,
  RegenerateBody,
  UpdateKeyBody,
} from "../schemas/api-keys.js";
import { Id, PageOf, errorResponses, ref } from "../schemas/common.js";
import { accessTo, etag, ifMatchVersion, noContent } from "./helpers.js";

const OrgParams = Type.Object({ orgId: Id("org") });
const KeyParams = Type.Object({ keyId: Id("key") });
const ListQuery = Type.Object(
  {
    view: Type.Optional(
      Type.String({
        maxLength: 48,
        default: "mine",
        description:
          "mine (default), users, service-accounts, projects, all, or a principal id (usr_/sa_/prj_). Others than mine need iam:apikeys:manage",
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
const IdempotencyHeaders = Type.Object({
  "idempotency-key": Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description: "Retrying with the same value returns the same new secret",
    }),
  ),
  "if-match": Type.Optional(Type.String({ description: 'ETag of the version you read, like "v3"' })),
});
const IfMatchHeaders = Type.Object({
  "if-match": Type.Optional(Type.String({ description: 'ETag of the version you read, like "v3"' })),
});

/** The key a key route acts on, for its audit event. */
const keyTarget = (req: FastifyRequest) => ({ type: "api_key", id: (req.params as { keyId: string }).keyId });

/**
 * A key's last use as this node knows it: a use not yet flushed (usage is written in batches)
 * is shown on every answer that carries the key, as its usage page shows it, rather than
 * "never used" or an older use.
 */
function withLastUse(s: Services, key: ApiKeyView): ApiKeyView {
  const pending = s.verify.usage.unflushed(key.id);
  if (!pending.lastUsedAt || (key.lastUsedAt && key.lastUsedAt >= pending.lastUsedAt)) return key;
  return { ...key, lastUsedAt: pending.lastUsedAt, lastUsedIp: pending.lastUsedIp };
}

export function apiKeyRoutes(app: App, s: Services) {
  const byKey = async (req: FastifyRequest, keyId: string) => accessTo(s, req, await s.apiKeys.orgOf(keyId));
  /** A key answered: its ETag, and its last use as this node knows it. */
  const answerKey = (reply: FastifyReply, key: ApiKeyView) => {
    reply.header("etag", etag(key.version));
    return withLastUse(s, key);
  };
  const tags = ["api-keys"];

  app.post(
    "/v1/orgs/:orgId/api-keys",
    {
      config: { audit: { action: "api_key.create" } },
      schema: {
        tags,
        summary: "Create an API key; the secret is in this response only",
        description:
          "Owner defaults to the caller. Permissions (explicit and through roles) must be a subset of what the caller holds where the key acts. Without permissions and roles, the caller's own key follows all of its owner's permissions.",
        params: OrgParams,
        body: CreateKeyBody,
        response: { 201: KeyWithSecret, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (req, reply) => {
      const access = await accessTo(s, req, req.params.orgId);
      const created = await s.apiKeys.create(req.ctx, access, req.body);
      return reply
        .status(201)
        .header("etag", etag(created.apiKey.version))
        .header("cache-control", "no-store")
        .send(created);
    },
  );

  app.get(
    "/v1/orgs/:orgId/api-keys",
    {
      schema: {
        tags,
        summary: "List API keys (view=mine by default)",
        params: OrgParams,
        querystring: ListQuery,
        response: { 200: PageOf(ref(ApiKeySchema)), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const access = await accessTo(s, req, req.params.orgId);
      const page = await s.apiKeys.list(access, req.query.view ?? "mine", req.query);
      return { ...page, items: page.items.map((k) => withLastUse(s, k)) };
    },
  );

  app.get(
    "/v1/orgs/:orgId/api-keys/allowed-permissions",
    {
      schema: {
        tags,
        summary: "Exactly the permissions the caller may grant to a new key (org-wide, or in one project)",
        params: OrgParams,
        querystring: Type.Object({ projectId: Type.Optional(Id("prj")) }, { additionalProperties: false }),
        response: { 200: AllowedPermissions, ...errorResponses(400, 401, 404) },
      },
    },
    async (req) => {
      const access = await accessTo(s, req, req.params.orgId);
      const res = await s.apiKeys.allowedPermissions(access, req.query.projectId ?? null);
      const names = new Set(res.names);
      return {
        projectId: res.projectId,
        canCreate: res.canCreate,
        items: s.deps.catalog
          .filter((p) => names.has(p.name))
          .map((p) => ({
            name: p.name,
            description: p.description,
            platform: !!p.platform,
            readOnly: isReadPermission(p.name),
          })),
      };
    },
  );

  app.get(
    "/v1/api-keys/:keyId",
    {
      schema: {
        tags,
        summary: "Read an API key (never its secret)",
        params: KeyParams,
        response: { 200: ref(ApiKeySchema), ...errorResponses(401, 404) },
      },
    },
    async (req, reply) => {
      const key = await s.apiKeys.get(await byKey(req, req.params.keyId), req.params.keyId);
      return answerKey(reply, key);
    },
  );

  app.patch(
    "/v1/api-keys/:keyId",
    {
      config: { audit: { action: "api_key.update", target: keyTarget } },
      schema: {
        tags,
        summary: "Edit name, description, default project, restrictions and expiry; narrow permissions",
        params: KeyParams,
        headers: IfMatchHeaders,
        body: UpdateKeyBody,
        response: { 200: ref(ApiKeySchema), ...errorResponses(400, 401, 403, 404, 412, 422) },
      },
    },
    async (req, reply) => {
      const access = await byKey(req, req.params.keyId);
      const key = await s.apiKeys.update(req.ctx, access, req.params.keyId, req.body, ifMatchVersion(req));
      return answerKey(reply, key);
    },
  );

  app.delete(
    "/v1/api-keys/:keyId",
    {
      config: { audit: { action: "api_key.delete", target: keyTarget } },
      schema: {
        tags,
        summary: "Delete an API key at once",
        params: KeyParams,
        headers: IfMatchHeaders,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 412) },
      },
    },
    async (req, reply) => {
      await s.apiKeys.delete(req.ctx, await byKey(req, req.params.keyId), req.params.keyId, ifMatchVersion(req));
      return noContent(reply);
    },
  );

  app.post(
    "/v1/api-keys/:keyId/regenerate",
    {
      config: { audit: { action: "api_key.regenerate", target: keyTarget } },
      schema: {
        tags,
        summary: "Issue a new secret for the same key; the old one stops now or after graceSeconds",
        params: KeyParams,
        headers: IdempotencyHeaders,
        body: RegenerateBody,
        response: { 200: KeyWithSecret, ...errorResponses(400, 401, 403, 404, 409, 412) },
      },
      // The body is optional: no body means no grace period.
      preValidation: async (req) => {
        if (req.body === undefined || req.body === null) req.body = {};
      },
    },
    async (req, reply) => {
      const access = await byKey(req, req.params.keyId);
      const res = await regenerateKey(s.apiKeys, req.ctx, access, req.params.keyId, {
        graceSeconds: req.body?.graceSeconds,
        idempotencyKey: req.headers["idempotency-key"],
        ifMatch: ifMatchVersion(req),
      });
      return reply
        .header("etag", etag(res.apiKey.version))
        .header("cache-control", "no-store")
        .send({ ...res, apiKey: withLastUse(s, res.apiKey) });
    },
  );

  for (const [verb, status] of [
    ["disable", "disabled"],
    ["enable", "active"],
  ] as const) {
    app.post(
      `/v1/api-keys/:keyId/${verb}`,
      {
        config: { audit: { action: `api_key.${verb}`, target: keyTarget } },
        schema: {
          tags,
          summary: verb === "disable" ? "Lock a key without deleting it" : "Unlock a disabled key",
          params: KeyParams,
          headers: IfMatchHeaders,
          response: { 200: ref(ApiKeySchema), ...errorResponses(401, 403, 404, 412) },
        },
      },
      async (req, reply) => {
        const { keyId } = req.params as { keyId: string };
        const key = await s.apiKeys.setStatus(req.ctx, await byKey(req, keyId), keyId, status, ifMatchVersion(req));
        return answerKey(reply, key);
      },
    );
  }
}
