/**
 * The production Transport: socket.io-client, one Manager per session (`forceNew`) with its
 * own reconnection off, so the client's backoff decides when to come back and no emit of a
 * dead session is buffered and replayed behind the outbox's back.
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { parseRetryAfter } from "./backoff.js";
import { ChatError } from "./errors.js";
import type { Transport, TransportHandlers } from "./transport.js";

export type SocketIoOptions = Partial<Omit<ManagerOptions & SocketOptions, "auth" | "reconnection" | "autoConnect" | "forceNew">>;

interface HandshakeError extends Error {
  data?: { code?: string; message?: string };
  /** engine.io's TransportError: the HTTP status, and the XMLHttpRequest that got it. */
  description?: unknown;
  context?: { getResponseHeader?: (name: string) => string | null };
}

export interface SocketIoTransport extends Transport {
  /** The engine.io session id while connected (diagnostics: this cluster's ids start with the serving node's name). */
  readonly sessionId: string | undefined;
}

export function socketIoTransport(url: string, options: SocketIoOptions = {}): SocketIoTransport {
  let socket: Socket | undefined;
  const close = () => {
    const old = socket;
    socket = undefined;
    old?.disconnect();
  };
  return {
    get sessionId() {
      return socket?.connected ? socket.io.engine?.id : undefined;
    },
    open(token: string, handlers: TransportHandlers) {
      close();
      const current = io(url, { ...options, auth: { token }, reconnection: false, autoConnect: false, forceNew: true });
      socket = current;
      // Every handler checks it still belongs to the live session: a closed one says nothing.
      current.on("connect", () => socket === current && handlers.open());
      current.on("disconnect", (reason) => socket === current && handlers.close(reason === "io server disconnect"));
      current.on("connect_error", (error: HandshakeError) => {
        if (socket !== current) return;
        socket = undefined;
        current.disconnect();
        handlers.refused(handshakeError(error));
      });
      current.onAny((event: string, payload: unknown) => socket === current && handlers.event(event, payload));
      current.connect();
    },
    close,
    request(event, payload, timeoutInMs) {
      const current = socket;
      if (!current?.connected) return Promise.reject(new ChatError("DISCONNECTED", "not connected"));
      return new Promise((resolve, reject) => {
        current.timeout(timeoutInMs).emit(event, payload, (error: Error | null, ack: unknown) => {
          if (!error) resolve(ack);
          else if (current.connected) reject(new ChatError("TIMEOUT", `no ack for ${event} within ${timeoutInMs} ms`));
          else reject(new ChatError("DISCONNECTED", `disconnected before the ack for ${event}`));
        });
      });
    },
    notify(event, payload) {
      if (socket?.connected) socket.emit(event, payload);
    },
  };
}

/** A refused handshake as a ChatError: the server's middleware refusal, or the HTTP answer of the handshake. */
function handshakeError(error: HandshakeError): ChatError {
  if (error.message === "UNAUTHORIZED" || error.message === "LIMIT_REACHED") {
    return new ChatError(error.message, error.data?.message ?? error.message, undefined, error.data?.code);
  }
  const status = typeof error.description === "number" ? error.description : 0;
  let retryAfterMs: number | undefined;
  try {
    retryAfterMs = parseRetryAfter(error.context?.getResponseHeader?.("retry-after"));
  } catch {
    // Some XMLHttpRequest implementations throw for a header CORS does not expose: no hint then.
  }
  const code = status === 429 ? "RATE_LIMITED" : "UNAVAILABLE";
  return new ChatError(code, status ? `handshake answered HTTP ${status}` : `cannot connect (${error.message})`, retryAfterMs);
}
