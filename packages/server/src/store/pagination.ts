import type { SelectQueryBuilder } from "kysely";
import { invalidField } from "../domain/errors.js";

export interface PageRequest {
  limit?: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

interface CursorPos {
  t: string;
  id: string;
}

const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const CURSOR_ID = /^[a-z]+_[0-9A-Za-z]{1,64}$/;

function decodeCursor(cursor: string): CursorPos {
  try {
    const pos = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as CursorPos;
    // What encodeCursor writes: a row's ISO time and prefixed id, nothing a client made up.
    if (typeof pos.t === "string" && typeof pos.id === "string" && CURSOR_TIME.test(pos.t) && CURSOR_ID.test(pos.id))
      return pos;
  } catch {
    // fall through
  }
  throw invalidField("cursor", "cursor is not one this API returned");
}

const encodeCursor = (pos: CursorPos) => Buffer.from(JSON.stringify(pos)).toString("base64url");

/**
 * Keyset pagination over rows with `created_at` and `id` columns: newest first, or oldest
 * first with `order` "asc". Stays fast at any depth given an index ending in (created_at, id).
 */
export async function paginate<R extends { created_at: string; id: string }>(
  // biome-ignore lint/suspicious/noExplicitAny: shared across tables
  qb: SelectQueryBuilder<any, any, R>,
  req: PageRequest,
  /** Qualified column names when the query joins tables. */
  cols: { createdAt: string; id: string } = { createdAt: "created_at", id: "id" },
  order: "asc" | "desc" = "desc",
): Promise<Page<R>> {
  const limit = Math.min(req.limit ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const col = (c: "created_at" | "id") => (c === "id" ? cols.id : cols.createdAt);
  let q = qb;
  if (req.cursor) {
    const pos = decodeCursor(req.cursor);
    const past = order === "desc" ? "<" : ">";
    q = q.where((eb) =>
      eb.or([
        eb(col("created_at"), past, pos.t),
        eb.and([eb(col("created_at"), "=", pos.t), eb(col("id"), past, pos.id)]),
      ]),
    );
  }
  const rows = await q
    .orderBy(col("created_at"), order)
    .orderBy(col("id"), order)
    .limit(limit + 1)
    .execute();
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items,
    nextCursor: rows.length > limit && last ? encodeCursor({ t: last.created_at, id: last.id }) : null,
  };
}
