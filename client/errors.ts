/**
 * Typed errors: every failure the SDK reports is a ChatError with one of the protocol's codes
 * (docs/protocol.md "Acks and errors", v1.1 LIMIT_REACHED, the handshake's UNAUTHORIZED) or one of
 * the SDK's own (TIMEOUT, DISCONNECTED, CLOSED), and whether trying again can help.
 */
import type { ErrorBody } from "./protocol.js";

const RETRYABLE = {
  BAD_REQUEST: false,
  UNAUTHORIZED: false,
  FORBIDDEN: false,
  NOT_FOUND: false,
  TOO_LARGE: false,
  RATE_LIMITED: true,
  UNAVAILABLE: true,
  INTERNAL: true,
  // A limit such as 256 rooms per socket or 20 connections per user: not at once, but it may clear.
  LIMIT_REACHED: true,
  /** No ack within the request timeout (the SDK's own). */
  TIMEOUT: true,
  /** The connection dropped before the ack came (the SDK's own). */
  DISCONNECTED: true,
  /** The client was closed by the application (the SDK's own). */
  CLOSED: false,
} as const;

export type ErrorCode = keyof typeof RETRYABLE;

export class ChatError extends Error {
  override name = "ChatError";
  /** Whether the same request may succeed later (after `retryAfterMs` when given). */
  readonly retryable: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryAfterMs?: number,
    /** The handshake refusal's reason (AUTH_MISSING, AUTH_INVALID, AUTH_EXPIRED). */
    readonly reason?: string,
  ) {
    super(message);
    this.retryable = RETRYABLE[code];
  }
}

/** An error body from an ack or a REST answer; an unknown code from a newer server counts as INTERNAL. */
export function errorFromBody(body: ErrorBody | undefined): ChatError {
  const code = body && body.code in RETRYABLE ? (body.code as ErrorCode) : "INTERNAL";
  const retryAfterMs = typeof body?.retryAfterMs === "number" ? body.retryAfterMs : undefined;
  return new ChatError(code, String(body?.message ?? "request failed"), retryAfterMs);
}
