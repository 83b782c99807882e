import { invalidField } from "./errors.js";

/** The first and last instants RFC 3339 can write (four-digit years). */
export const FIRST_INSTANT = Date.parse("0000-01-01T00:00:00.000Z");
export const LAST_INSTANT = Date.parse("9999-12-31T23:59:59.999Z");

/**
 * An instant a client sent in a query (epoch ms), or a 400 naming `field`: a date-time (with
 * `unixSeconds`, whole seconds too) within years 0000–9999. Past them `toISOString` writes
 * `+010000-…`, which compares as text before every stored time.
 */
export function queryInstant(field: string, raw: string, unixSeconds = false): number {
  const ms = unixSeconds && /^\d{1,12}$/.test(raw) ? Number(raw) * 1000 : Date.parse(raw);
  if (!Number.isFinite(ms))
    throw invalidField(field, `${field} must be RFC 3339${unixSeconds ? " or Unix seconds" : ""}`, "format");
  if (ms < FIRST_INSTANT || ms > LAST_INSTANT)
    throw invalidField(field, `${field} must be within the years 0000 to 9999`, "range");
  return ms;
}
