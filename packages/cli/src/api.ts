import { parseIntArg } from "./parse.js";
import type { Ctx } from "./context.js";

type Method = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
interface Init {
  query?: Record<string, unknown>;
  body?: unknown;
  headers?: Record<string, string>;
  /** A public route: sent without a credential when none is set. */
  public?: boolean;
}
// biome-ignore lint/suspicious/noExplicitAny: the CLI passes concrete paths; responses are printed, not typed
type Loose = Record<Method, (path: string, init?: any) => Promise<{ data?: any; response: Response }>>;

/** Calls the API through the SDK client (errors arrive as KeywardError). */
// biome-ignore lint/suspicious/noExplicitAny: see above
export async function api<T = any>(ctx: Ctx, method: Method, path: string, init: Init = {}): Promise<T> {
  const client = ctx.client({ optional: init.public }) as unknown as Loose;
  const query = init.query
    ? Object.fromEntries(Object.entries(init.query).filter(([, v]) => v !== undefined && v !== null && v !== ""))
    : undefined;
  const { data } = await client[method](path, {
    ...(query && Object.keys(query).length ? { params: { query } } : {}),
    ...(init.body !== undefined ? { body: init.body } : {}),
    ...(init.headers ? { headers: init.headers } : {}),
  });
  return data as T;
}

export const seg = encodeURIComponent;

/** Drops undefined fields so PATCH bodies carry only what was given. */
export function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A list endpoint: one page (`--limit`, `--cursor`), or with `--all` every page joined. */
export async function list<T = Record<string, unknown>>(
  ctx: Ctx,
  path: string,
  o: { limit?: string; cursor?: string; all?: boolean },
  query: Record<string, unknown> = {},
): Promise<{ items: T[]; nextCursor: string | null }> {
  const limit = o.limit === undefined ? undefined : parseIntArg(o.limit, "--limit", 1, 200);
  const page = (cursor?: string) =>
    api<{ items: T[]; nextCursor?: string | null }>(ctx, "GET", path, { query: { ...query, limit, cursor } });
  const first = await page(o.cursor);
  if (!o.all) return { items: first.items, nextCursor: first.nextCursor ?? null };
  const items = [...first.items];
  let next = first.nextCursor;
  while (next) {
    const more = await page(next);
    items.push(...more.items);
    next = more.nextCursor;
  }
  return { items, nextCursor: null };
}
