/** Fetch wrapper for the Keyward API: same-origin cookies, CSRF header on writes, problem+json errors. */

export interface FieldError {
  path: string;
  code: string;
  message: string;
}

/** An RFC 9457 problem returned by the API (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors: FieldError[] = [],
    readonly requestId?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const CSRF_COOKIE = "kw_csrf";

/** The readable CSRF cookie the server sets at login; sent back as `x-csrf-token`. */
export function csrfToken(cookie: string = typeof document === "undefined" ? "" : document.cookie): string | null {
  for (const part of cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === CSRF_COOKIE) return decodeURIComponent(v.join("="));
  }
  return null;
}

export interface RequestOptions {
  body?: unknown;
  /** Version for optimistic concurrency (`If-Match`). */
  ifMatch?: number | string;
  query?: Record<string, string | number | undefined | null>;
}

function withQuery(path: string, query?: RequestOptions["query"]): string {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

/** Called on any 401 so the app can send the user to the login page. */
let onUnauthenticated: (() => void) | null = null;
export function setUnauthenticatedHandler(fn: (() => void) | null) {
  onUnauthenticated = fn;
}

export async function api<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const csrf = csrfToken();
    if (csrf) headers["x-csrf-token"] = csrf;
  }
  // The API's ETags look like "v3".
  if (opts.ifMatch !== undefined) headers["if-match"] = `"v${opts.ifMatch}"`;
  let res: Response;
  try {
    res = await fetch(withQuery(path, opts.query), {
      method,
      headers,
      credentials: "same-origin",
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch {
    throw new ApiError(0, "NETWORK", "Cannot reach the Keyward server");
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const p = (data ?? {}) as {
      code?: string;
      detail?: string;
      title?: string;
      errors?: FieldError[];
      requestId?: string;
    };
    if (res.status === 401 && path !== "/v1/auth/login" && onUnauthenticated) onUnauthenticated();
    throw new ApiError(
      res.status,
      p.code ?? `HTTP_${res.status}`,
      p.detail ?? p.title ?? res.statusText,
      p.errors ?? [],
      p.requestId,
    );
  }
  return data as T;
}

/** Fetches every page of a cursor-paginated list (bounded). */
export async function listAll<T>(path: string, query: RequestOptions["query"] = {}, max = 2000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: T[]; nextCursor?: string | null } = await api("GET", path, {
      query: { ...query, limit: 200, cursor },
    });
    out.push(...page.items);
    cursor = page.nextCursor ?? null;
  } while (cursor && out.length < max);
  return out;
}
