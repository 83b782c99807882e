/**
 * Where in a parsed request (a body, a query string) a string holds a character no field may
 * hold: U+0000 (PostgreSQL stores no NUL in text; SQLite would, and the two would differ) or an
 * unpaired surrogate (no UTF-8 for it: PostgreSQL stores U+FFFD, SQLite bytes that are not
 * UTF-8, and neither is what was sent). Answers the first such place as a path (`name`,
 * `roles/2/roleId`), or null when there is none. Keys of objects are checked too.
 */
export const badTextAt = (value: unknown): string | null => stringAt(value, isBadText);

/**
 * Where in a parsed request the first string for which `test` holds is (object keys included),
 * as a path like `roles/2/roleId`, or null.
 */
export function stringAt(value: unknown, test: (s: string) => boolean): string | null {
  // Depth first, without recursion: bodies nest as deep as a client likes.
  const stack: [unknown, string][] = [[value, ""]];
  const at = (path: string, key: string | number) => (path ? `${path}/${key}` : String(key));
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [v, path] = next;
    if (typeof v === "string") {
      if (test(v)) return path;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], at(path, i)]);
    } else if (v !== null && typeof v === "object") {
      const entries = Object.entries(v);
      for (const [key] of entries) if (test(key)) return at(path, key);
      for (let i = entries.length - 1; i >= 0; i--) stack.push([entries[i][1], at(path, entries[i][0])]);
    }
  }
  return null;
}

/** A NUL, a high surrogate not followed by a low one, or a low one not after a high one. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const BAD_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const isBadText = (s: string) => BAD_TEXT.test(s);
