import type { components } from "./generated/openapi.js";

export type Problem = components["schemas"]["Problem"];
export type FieldError = NonNullable<Problem["errors"]>[number];

/**
 * A failed Keyward request: the API's problem+json (RFC 9457) as an Error.
 * `code` is the stable machine code (`INVALID_REQUEST`, `NOT_FOUND`, `FORBIDDEN`, …);
 * `errors` names each bad field of a validation failure.
 */
export class KeywardError extends Error {
  override readonly name = "KeywardError";
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly type: string;
  readonly requestId?: string;
  readonly errors: FieldError[];
  /** Seconds from `Retry-After`, when the server sent one (429/503). */
  readonly retryAfter?: number;

  constructor(problem: Problem, opts: { retryAfter?: number; cause?: unknown } = {}) {
    super(problem.detail || problem.title, { cause: opts.cause });
    this.status = problem.status;
    this.code = problem.code;
    this.title = problem.title;
    this.detail = problem.detail;
    this.type = problem.type;
    this.requestId = problem.requestId;
    this.errors = problem.errors ?? [];
    this.retryAfter = opts.retryAfter;
  }

  /** The problem+json body, as the server sent it. */
  toJSON(): Problem {
    return {
      type: this.type,
      title: this.title,
      status: this.status,
      detail: this.detail,
      code: this.code,
      ...(this.requestId ? { requestId: this.requestId } : {}),
      ...(this.errors.length ? { errors: this.errors } : {}),
    };
  }

  /** Reads a failed response; bodies that are not problem+json still become a KeywardError. */
  static async fromResponse(response: Response): Promise<KeywardError> {
    const text = await response.text().catch(() => "");
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: fall through with the status line
    }
    return KeywardError.fromBody(parsed, response);
  }

  /** A failed response whose body was already read (`parsed`: JSON as parsed, else its text). */
  static fromBody(parsed: unknown, response: Response): KeywardError {
    const text = typeof parsed === "string" ? parsed : "";
    let body: Partial<Problem> = parsed && typeof parsed === "object" ? (parsed as Partial<Problem>) : {};
    // OAuth endpoints (POST /v1/token) answer RFC 6749 errors: {error, error_description}.
    const oauth = body as { error?: unknown; error_description?: unknown };
    if (!body.code && typeof oauth.error === "string") {
      body = {
        ...body,
        code: oauth.error.toUpperCase(),
        detail: typeof oauth.error_description === "string" ? oauth.error_description : oauth.error,
      };
    }
    const ra = Number(response.headers.get("retry-after"));
    return new KeywardError(
      {
        type: body.type ?? "about:blank",
        title: body.title ?? (response.statusText || `HTTP ${response.status}`),
        status: typeof body.status === "number" ? body.status : response.status,
        detail: body.detail ?? (text.slice(0, 200) || response.statusText || `HTTP ${response.status}`),
        code: body.code ?? statusCode(response.status),
        requestId: body.requestId ?? response.headers.get("x-request-id") ?? undefined,
        errors: Array.isArray(body.errors) ? body.errors : undefined,
      },
      { retryAfter: Number.isFinite(ra) && ra > 0 ? ra : undefined },
    );
  }
}

function statusCode(status: number): string {
  if (status === 400) return "INVALID_REQUEST";
  if (status === 401) return "UNAUTHENTICATED";
  if (status === 403) return "FORBIDDEN";
  if (status === 404) return "NOT_FOUND";
  if (status === 409) return "CONFLICT";
  if (status === 412) return "PRECONDITION_FAILED";
  if (status === 429) return "RATE_LIMITED";
  if (status === 503) return "UNAVAILABLE";
  return status >= 500 ? "INTERNAL" : "HTTP_ERROR";
}

export const isKeywardError = (err: unknown): err is KeywardError => err instanceof KeywardError;
