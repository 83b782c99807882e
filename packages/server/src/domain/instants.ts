import { invalidField } from "./errors.js";

/** The first and last instants RFC 3339 can write (four-digit years). */
export const FIRST_INSTANT = Date.parse("0000-01-01T00:00:00.000Z");
export const LAST_INSTANT = Date.parse("9999-12-31T23:59:59.999Z");

/**
 * Whether the date a date-time text starts with (`YYYY-MM-DD…`) is on the calendar: parsers
 * roll 30 February over to 2 March rather than refuse it. Text of another shape passes.
 */
export function onTheCalendar(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!m) return true;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12) return false;
  const days = DAYS_IN_MONTH[month - 1] + (month === 2 && leap(year) ? 1 : 0);
  return day >= 1 && day <= days;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const leap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** Whether epoch `ms` is within the years RFC 3339 can write. */
export const writable = (ms: number) => ms >= FIRST_INSTANT && ms <= LAST_INSTANT;

/**
 * An instant a client sent in a query (epoch ms), or a 400 naming `field`: a date-time (with
 * `unixSeconds`, whole seconds too) within years 0000–9999. Past them `toISOString` writes
 * `+010000-…`, which compares as text before every stored time.
 */
export function queryInstant(field: string, raw: string, unixSeconds = false): number {
  const ms = unixSeconds && /^\d{1,12}$/.test(raw) ? Number(raw) * 1000 : Date.parse(raw);
  if (!Number.isFinite(ms) || !onTheCalendar(raw))
    throw invalidField(field, `${field} must be RFC 3339${unixSeconds ? " or Unix seconds" : ""}`, "format");
  if (!writable(ms)) throw invalidField(field, `${field} must be within the years 0000 to 9999`, "range");
  return ms;
}
