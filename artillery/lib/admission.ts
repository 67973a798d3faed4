/**
 * Getting in under overload, as a client should (docs/protocol.md "Overload and backoff"): a
 * handshake answered HTTP 503 (a node past CHAT_MAX_CONNECTIONS or CHAT_CONNECT_RATE, or the
 * gateway's waiting room past `timeout queue`) or 429 carries `Retry-After`; the client waits at
 * least that long, with the SDK's jittered exponential backoff (client/backoff.ts, the same class
 * and defaults as client/connection.ts), and tries again until it is in. A refusal that retrying
 * cannot cure (UNAUTHORIZED, LIMIT_REACHED) ends the attempt at once.
 *
 * socket.io-client on a WebSocket-only transport reports a refused upgrade as "websocket error"
 * without the status or the headers, so `openOnce` listens for the `ws` package's
 * `unexpected-response` on the transport it just created and reads them there (the polling
 * transport exposes them on the XMLHttpRequest, as the SDK reads them).
 */
import type { Socket } from "socket.io-client";
import { Backoff, parseRetryAfter } from "../../client/backoff.js";

/** A handshake that did not let the user in. */
export class HandshakeRefused extends Error {
  override name = "HandshakeRefused";
  constructor(
    /** UNAVAILABLE (503, or no answer), RATE_LIMITED (429), UNAUTHORIZED, LIMIT_REACHED, TIMEOUT… */
    readonly code: string,
    /** The HTTP status of the handshake's answer; 0 when there was none (timeout, reset). */
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`connect: ${code}${status ? ` (HTTP ${status})` : ""}${retryAfterMs === undefined ? "" : `, Retry-After ${retryAfterMs} ms`}`);
  }

  /** Whether trying again later can succeed: the server is full or slow, not refusing this user. */
  get retryable(): boolean {
    return this.code !== "UNAUTHORIZED" && this.code !== "LIMIT_REACHED";
  }
}

/** The user gave up: still refused when its admission deadline passed. */
export class NeverAdmitted extends Error {
  override name = "NeverAdmitted";
  constructor(
    readonly attempts: number,
    readonly waitedInMs: number,
    readonly last: HandshakeRefused,
  ) {
    super(`connect: never admitted: ${attempts} attempts over ${Math.round(waitedInMs / 1000)} s, last ${last.message}`);
  }
}

export interface Admission {
  attempts: number;
  /** Handshakes answered 503/429 (or not answered) before the one that got in. */
  refusals: number;
  /** First attempt → connected, ms: includes the gateway queue and every backoff. */
  waitedInMs: number;
}

export interface AdmitOptions {
  /** One handshake: resolves when connected, rejects with HandshakeRefused. */
  attempt: () => Promise<void>;
  /** Stop retrying once this long has passed since the first attempt. */
  maxWaitInMs: number;
  backoff?: Pick<Backoff, "next">;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Each retryable refusal, with the delay chosen before the next attempt. */
  onRefused?: (refusal: HandshakeRefused, delayInMs: number) => void;
}

/**
 * Tries `attempt` until it connects: after each retryable refusal waits `backoff.next(retryAfterMs)`
 * (never less than Retry-After), unless that would pass `maxWaitInMs`, then throws NeverAdmitted.
 * A refusal that is not retryable is rethrown as is.
 */
export async function admitWithBackoff({
  attempt,
  maxWaitInMs,
  backoff = new Backoff(),
  sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now = Date.now,
  onRefused,
}: AdmitOptions): Promise<Admission> {
  const started = now();
  for (let attempts = 1; ; attempts += 1) {
    try {
      await attempt();
      return { attempts, refusals: attempts - 1, waitedInMs: now() - started };
    } catch (error) {
      if (!(error instanceof HandshakeRefused) || !error.retryable) throw error;
      const delay = backoff.next(error.retryAfterMs);
      if (now() + delay - started > maxWaitInMs) throw new NeverAdmitted(attempts, now() - started, error);
      onRefused?.(error, delay);
      await sleep(delay);
    }
  }
}

/** What socket.io-client hands `connect_error`: middleware refusals carry `data`; transport errors the XHR as `context`. */
interface ConnectError extends Error {
  data?: { code?: string };
  description?: unknown;
  context?: { getResponseHeader?: (name: string) => string | null };
}

/** The `ws` WebSocket under engine.io-client's websocket transport: only the event we read. */
interface WsLike {
  once(
    event: "unexpected-response",
    listener: (
      request: { destroy(error: Error): void },
      response: { statusCode?: number; headers: Record<string, string | string[] | undefined>; resume(): void },
    ) => void,
  ): void;
}

/**
 * One handshake of `socket` (created with `reconnection: false, autoConnect: false`): resolves
 * on `connect`, rejects with a HandshakeRefused that carries the HTTP status and Retry-After.
 */
export function openOnce(socket: Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let answered: { status: number; retryAfterMs: number | undefined } | undefined;
    const onConnect = () => {
      socket.off("connect_error", onError);
      resolve();
    };
    const onError = (error: ConnectError) => {
      socket.off("connect", onConnect);
      reject(refusalOf(error, answered));
    };
    socket.once("connect", onConnect);
    socket.once("connect_error", onError);
    socket.connect();
    // connect() created the engine and its first transport synchronously; a WebSocket one holds a `ws` client.
    const ws = (socket.io as unknown as { engine?: { transport?: { ws?: Partial<WsLike> } } }).engine?.transport?.ws;
    if (typeof ws?.once === "function") {
      ws.once("unexpected-response", (request, response) => {
        const header = response.headers["retry-after"];
        answered = { status: response.statusCode ?? 0, retryAfterMs: parseRetryAfter(Array.isArray(header) ? header[0] : header) };
        response.resume();
        // With a listener, `ws` leaves the aborting to us; destroying with an error ends in the transport's "websocket error".
        request.destroy(new Error(`Unexpected server response: ${answered.status}`));
      });
    }
  });
}

/** A connect_error as a HandshakeRefused: the server's middleware code, else the handshake's HTTP answer. */
export function refusalOf(error: ConnectError, answered?: { status: number; retryAfterMs: number | undefined }): HandshakeRefused {
  if (error.message === "UNAUTHORIZED" || error.message === "LIMIT_REACHED") return new HandshakeRefused(error.message, 0, undefined);
  if (error.message === "timeout") return new HandshakeRefused("TIMEOUT", 0, undefined);
  const status = answered?.status ?? (typeof error.description === "number" ? error.description : 0);
  let retryAfterMs = answered?.retryAfterMs;
  if (!answered) {
    try {
      retryAfterMs = parseRetryAfter(error.context?.getResponseHeader?.("retry-after"));
    } catch {
      // An XMLHttpRequest that throws for a header it does not expose: no hint, plain backoff.
    }
  }
  return new HandshakeRefused(status === 429 ? "RATE_LIMITED" : "UNAVAILABLE", status, retryAfterMs);
}
