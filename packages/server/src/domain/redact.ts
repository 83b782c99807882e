/**
 * Text that may echo what a client sent (a URL, an error's detail), with anything shaped like a
 * credential taken out: runs of 30 or more characters after a `prefix_` (API keys, invitation
 * and session tokens; ids, `prefix_` + 24 characters, stay) and JWTs. A client may put a
 * secret anywhere (a key pasted into a path, a permission list or a query), so logs and error
 * answers never repeat one.
 * @example redactCredentials("kw_3x…(38 chars) matches nothing") // "[redacted] matches nothing"
 */
export const redactCredentials = (text: string) =>
  text.replace(/[A-Za-z0-9]+_[0-9A-Za-z]{30,}/g, "[redacted]").replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, "[redacted]");
