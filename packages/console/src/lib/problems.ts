import { ApiError, type FieldError } from "../api/client";

/**
 * Maps problem+json `errors[].path` to form field names: "/name", "body/name", "name",
 * "/allowedIps/1" all land on their first segment ("name", "allowedIps").
 * @example fieldErrors([{path: "/allowedIps/0", code: "x", message: "bad"}]) // { allowedIps: "bad" }
 */
export function fieldErrors(errors: readonly FieldError[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of errors ?? []) {
    const segs = e.path
      .replace(/^body/, "")
      .split(/[/.[\]]/)
      .filter(Boolean);
    const key = segs[0] ?? "";
    if (!out[key]) out[key] = e.message;
  }
  return out;
}

/** Errors that no field of the form claims, for a banner. */
export function unclaimedErrors(errors: readonly FieldError[] | undefined, fields: readonly string[]): string[] {
  const map = fieldErrors(errors);
  return Object.entries(map)
    .filter(([k]) => !fields.includes(k))
    .map(([k, m]) => (k ? `${k}: ${m}` : m));
}

/**
 * Errors for a form from whatever a submit threw: field messages by name, plus `form` for a
 * problem that names no field (or a failure that is not an API answer at all).
 * @example formErrors(new ApiError(400, "INVALID_REQUEST", "bad", [{path: "/name", code: "x", message: "too long"}])) // { name: "too long" }
 */
export function formErrors(err: unknown): Record<string, string | undefined> {
  if (!(err instanceof ApiError)) return { form: "The request failed; check your connection and try again" };
  return { ...fieldErrors(err.errors), form: err.errors.length ? undefined : err.message };
}
