import { READ_TIMEOUT } from "./pg-prepared.js";

/** Socket errors of a database that cannot be reached, or whose connection broke. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * Whether `err` says the database is unreachable or its connection was lost (a retry may well
 * succeed), not that the statement itself was wrong: socket errors; PostgreSQL's SQLSTATE class
 * 08 (connection exception), 57P01-57P03 (the server shutting down, or not yet accepting
 * connections) and 53300 (too many connections); and the errors pg raises itself, without a
 * code, for a connection that ended or could not be had in time, or a statement whose answer
 * did not come in time (`KEYWARD_DATABASE_TIMEOUT_MS`).
 */
export function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  if (err instanceof AggregateError && err.errors.some(isStoreUnavailable)) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (NETWORK_CODES.has(code) || /^(08...|57P0[123]|53300)$/.test(code))) return true;
  if (err.message === READ_TIMEOUT) return true;
  return /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(
    err.message,
  );
}
