/**
 * The error codes of docs/protocol.md "Acks and errors" (LIMIT_REACHED from v1.1 "Limits") and
 * whether a client should retry. The domain throws ChatError; each transport turns it into its
 * answer (an `{ ok: false, error }` ack, or an HTTP status with the same body). Anything else
 * is INTERNAL and is logged.
 */
export const ERROR_CODES = {
  BAD_REQUEST: { retryable: false },
  UNAUTHORIZED: { retryable: false },
  FORBIDDEN: { retryable: false },
  NOT_FOUND: { retryable: false },
  TOO_LARGE: { retryable: false },
  RATE_LIMITED: { retryable: true },
  /** A cap (rooms per socket, connections per user) is full: retry only after freeing one. */
  LIMIT_REACHED: { retryable: false },
  UNAVAILABLE: { retryable: true },
  INTERNAL: { retryable: true },
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

/** The error object both transports send (the ack's `error`, the REST body's `error`). */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  retryAfterMs?: number;
}

/** The wire form of an error; internal details never leave the server. */
export function toErrorBody(error: unknown): ErrorBody {
  if (error instanceof ChatError) {
    return error.retryAfterMs === undefined
      ? { code: error.code, message: error.message }
      : { code: error.code, message: error.message, retryAfterMs: error.retryAfterMs };
  }
  return { code: "INTERNAL", message: "internal error" };
}
