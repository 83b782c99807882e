import createClient, { type Client, type Middleware } from "openapi-fetch";
import { KeywardError } from "./errors.js";
import type { paths } from "./generated/openapi.js";

export interface KeywardClientOptions {
  /** Where Keyward runs, e.g. `https://keys.example.com` (no `/v1`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`: an API key, an exchanged token or a session token. */
  apiKey?: string;
  /** Extra headers for every request. */
  headers?: Record<string, string>;
  /** A custom fetch (tests, proxies). */
  fetch?: typeof globalThis.fetch;
  /**
   * Throw a {@link KeywardError} for every non-2xx response (default true), so `data` is
   * always there when a call resolves. With false, read `error` as openapi-fetch returns it.
   */
  throwOnError?: boolean;
}

/** openapi-fetch's client over Keyward's paths: `kw.GET("/v1/orgs/{orgId}", { params: { path: { orgId } } })`. */
export type KeywardClient = Client<paths>;

const throwOnError: Middleware = {
  async onResponse({ response }) {
    if (!response.ok) throw await KeywardError.fromResponse(response);
    return undefined;
  },
};

/**
 * A typed client for every Keyward endpoint.
 *
 * @example
 * const kw = createKeywardClient({ baseUrl: "http://localhost:8080", apiKey: process.env.KEYWARD_API_KEY });
 * const { data: me } = await kw.GET("/v1/me");
 */
export function createKeywardClient(opts: KeywardClientOptions): KeywardClient {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
  const client = createClient<paths>({
    baseUrl: opts.baseUrl.replace(/\/+$/, ""),
    headers,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  if (opts.throwOnError !== false) client.use(throwOnError);
  return client;
}

/**
 * Resolves a call to its data, throwing a {@link KeywardError} on failure whatever
 * `throwOnError` was.
 *
 * @example
 * const org = await unwrap(kw.GET("/v1/orgs/{orgId}", { params: { path: { orgId } } }));
 */
export async function unwrap<D>(call: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<D> {
  const res = await call;
  // The same error as the throwing client's: problem+json or OAuth body, Retry-After included.
  if (res.error !== undefined || !res.response.ok) throw KeywardError.fromBody(res.error, res.response);
  return res.data as D;
}

/**
 * Every item of a list endpoint, fetching page after page (`{items, nextCursor}`).
 *
 * @example
 * for await (const key of paginate((cursor) =>
 *   kw.GET("/v1/orgs/{orgId}/api-keys", { params: { path: { orgId }, query: { view: "all", cursor } } }),
 * )) console.log(key.id);
 */
export async function* paginate<T>(
  fetchPage: (cursor: string | undefined) => Promise<{
    data?: { items: T[]; nextCursor?: string | null };
    error?: unknown;
    response: Response;
  }>,
): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  do {
    const page = await unwrap(fetchPage(cursor));
    yield* page.items;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}
