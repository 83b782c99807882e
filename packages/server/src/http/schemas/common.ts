import Type, { type Static, type TSchema } from "typebox";

export const Id = (prefix: string) =>
  Type.String({
    pattern: `^${prefix}_[0-9A-Za-z]{1,40}$`,
    maxLength: 48,
    examples: [`${prefix}_4kTz9QmW2bX7cN1pLr8sVd3e`],
  });

export const Name = Type.String({ minLength: 1, maxLength: 100, examples: ["billing-service"] });
export const Description = Type.String({ maxLength: 1000 });
export const Instant = Type.String({ format: "date-time", examples: ["2026-11-23T10:00:00.000Z"] });

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

/** `{items, nextCursor}` for a list of `item`. */
export const PageOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ examples: ["INVALID_REQUEST"] }),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(Type.Object({ path: Type.String(), code: Type.String(), message: Type.String() })),
    ),
  },
  { $id: "Problem", description: "RFC 9457 problem details" },
);
export type ProblemT = Static<typeof Problem>;

/**
 * Standard error responses for a route's OpenAPI entry. Every route that declares them may also
 * answer 503 (with `Retry-After`) while the database cannot be reached, so 503 is always listed.
 */
/**
 * Error answers of a route: those named, and always 400 (any path, query or body can be
 * malformed) and 503 (the database out of reach).
 */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(
    [...new Set([400, ...statuses, 503])]
      .sort((a, b) => a - b)
      .map((s) => [s, { ...Type.Ref("Problem"), description: "problem+json" }]),
  );

/**
 * Declares error answers (4xx and 5xx) with the media type they are sent with (and 415 for
 * every operation that may take a body: POST, PUT, PATCH),
 * `application/problem+json` (RFC 9457), in the OpenAPI document: Fastify's schemas name one
 * body per status, which the document generator files under `application/json`. Changes the
 * document in place (the swagger plugin's `transformObject`); nothing at run time.
 */
export function problemMediaType<T extends { paths?: unknown }>(doc: T): T {
  const paths = (doc.paths ?? {}) as Record<
    string,
    Record<string, { requestBody?: unknown; responses?: Record<string, unknown> }>
  >;
  for (const item of Object.values(paths)) {
    for (const [method, op] of Object.entries(item)) {
      // Any operation answers 400 to a malformed request (a NUL in its query, say).
      if (op?.responses && !op.responses["400"]) {
        op.responses["400"] = {
          description: "problem+json",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Problem" } } },
        };
      }
      // An operation that may take a body answers 415 to a content type it does not read.
      const bad = op?.responses?.["400"];
      const takesBody = op?.requestBody || method === "post" || method === "put" || method === "patch";
      if (takesBody && bad && !op.responses?.["415"]) {
        (op.responses as Record<string, unknown>)["415"] = {
          ...(bad as object),
          description: "problem+json: a content type this operation does not read",
        };
      }
      for (const [status, response] of Object.entries(op?.responses ?? {})) {
        const content = (response as { content?: Record<string, unknown> }).content;
        if (Number(status) < 400 || !content?.["application/json"]) continue;
        content["application/problem+json"] = content["application/json"];
        delete content["application/json"];
      }
    }
  }
  return doc;
}

export const NoContent = Type.Null({ description: "No content" });

/**
 * A `$ref` to a shared schema (registered with `app.addSchema`), typed as that schema.
 * OpenAPI then names it under components by its `$id`.
 */
export const ref = <T extends TSchema & { $id?: string }>(schema: T) =>
  Type.Unsafe<Static<T>>(Type.Ref(schema.$id as string));

export const RoleBindingSchema = Type.Object(
  {
    roleId: Type.String({ maxLength: 48, examples: ["role_member"] }),
    projectId: Type.Optional(Type.Union([Type.Null(), Id("prj")], { description: "null or absent: org-wide" })),
  },
  { $id: "RoleBinding", additionalProperties: false },
);
export const RoleBindings = Type.Array(ref(RoleBindingSchema), { maxItems: 50 });
