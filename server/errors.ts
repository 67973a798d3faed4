/**
 * The error codes of PROTOCOL.md "Acks and errors", with the HTTP status each maps to and
 * whether a client should retry. Handlers throw ChatError; the event dispatcher and the REST
 * layer turn it into an ack or a response. Anything else is INTERNAL and is logged.
 */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, retryable: false },
  UNAUTHORIZED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  TOO_LARGE: { status: 413, retryable: false },
  RATE_LIMITED: { status: 429, retryable: true },
  UNAVAILABLE: { status: 503, retryable: true },
  INTERNAL: { status: 500, retryable: true },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ChatError extends Error {
  override name = "ChatError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  retryAfterMs?: number;
}

/** The wire form of an error; internal details never leave the server. */
export function toErrorBody(error: unknown): ErrorBody {
  if (error instanceof ChatError) {
    return error.retryAfterMs === undefined ? { code: error.code, message: error.message } : { code: error.code, message: error.message, retryAfterMs: error.retryAfterMs };
  }
  return { code: "INTERNAL", message: "internal error" };
}
