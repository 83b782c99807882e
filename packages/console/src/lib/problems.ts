import type { FieldError } from "../api/client";

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
