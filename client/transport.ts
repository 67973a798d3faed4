/**
 * The one seam between the SDK and the network. The client talks to a Transport; the
 * socket.io implementation (socketio-transport.ts) fills it in production and an in-memory
 * fake fills it in unit tests. A transport does not reconnect by itself: the client decides
 * when (backoff, server hints, fresh tokens).
 */
import type { ChatError } from "./errors.js";

export interface TransportHandlers {
  /** The session is up (the handshake and authentication passed). */
  open(): void;
  /**
   * The session ended. `byServer`: the server ended it on purpose (socket.io's "io server
   * disconnect", e.g. the token expired); otherwise the connection was lost.
   */
  close(byServer: boolean): void;
  /** The handshake was refused: UNAUTHORIZED (with `reason`), LIMIT_REACHED, or UNAVAILABLE with `retryAfterMs` from HTTP 503 + Retry-After. */
  refused(error: ChatError): void;
  /** A server → client event. */
  event(name: string, payload: unknown): void;
}

export interface Transport {
  /** Starts a session with this token; the outcome arrives as `open` or `refused`. */
  open(token: string, handlers: TransportHandlers): void;
  /** Ends the session; no handler is called for it. */
  close(): void;
  /**
   * Emits `event` and resolves with the raw ack. Rejects with ChatError TIMEOUT after
   * `timeoutInMs`, DISCONNECTED when the session is not open or drops first. Never buffers
   * an emit for a later session: the client resends what matters itself.
   */
  request(event: string, payload: unknown, timeoutInMs: number): Promise<unknown>;
  /** Emits without an ack (typing). Dropped when the session is not open. */
  notify(event: string, payload: unknown): void;
}
