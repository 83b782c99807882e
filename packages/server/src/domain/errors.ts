/** Every request-failure code the API returns, with its HTTP status. */
export const ERROR_CODES = {
  INVALID_REQUEST: { status: 400, title: "Invalid request" },
  UNAUTHENTICATED: { status: 401, title: "Authentication required" },
  INVALID_CREDENTIALS: { status: 401, title: "Invalid credentials" },
  FORBIDDEN: { status: 403, title: "Forbidden" },
  CSRF_REQUIRED: { status: 403, title: "CSRF token missing or wrong" },
  PASSWORD_CHANGE_REQUIRED: { status: 403, title: "Password change required" },
  NOT_FOUND: { status: 404, title: "Not found" },
  METHOD_NOT_ALLOWED: { status: 405, title: "Method not allowed" },
  CONFLICT: { status: 409, title: "Conflict" },
  REQUEST_TIMEOUT: { status: 408, title: "Request timeout" },
  PRECONDITION_FAILED: { status: 412, title: "Precondition failed" },
  PAYLOAD_TOO_LARGE: { status: 413, title: "Payload too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "Unsupported media type" },
  POLICY_VIOLATION: { status: 422, title: "Organization policy violation" },
  RATE_LIMITED: { status: 429, title: "Too many requests" },
  HEADERS_TOO_LARGE: { status: 431, title: "Request header fields too large" },
  INTERNAL: { status: 500, title: "Internal error" },
  UNAVAILABLE: { status: 503, title: "Service unavailable" },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  /** JSON pointer-ish path of the offending field, e.g. "allowedIps/2". */
  path: string;
  code: string;
  message: string;
}

/** A request failure with a stable machine code; becomes problem+json at the edge. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly errors?: FieldError[];
  readonly headers?: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { errors?: FieldError[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.errors = opts.errors;
    this.headers = opts.headers;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

/** 400 naming one field. */
export function invalidField(path: string, message: string, code = "invalid"): AppError {
  return new AppError("INVALID_REQUEST", message, { errors: [{ path, code, message }] });
}

export const notFound = (what = "Resource") => new AppError("NOT_FOUND", `${what} not found`);
export const forbidden = (permission: string) => new AppError("FORBIDDEN", `Missing permission ${permission}`);
