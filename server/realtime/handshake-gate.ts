/**
 * Answers a refused handshake with HTTP 503 and Retry-After before engine.io sees it.
 *
 * socket.io's `allowRequest` can only refuse with 400/403, and socket.io-client gives up on a
 * `connect_error` from middleware but retries, with its own backoff, on an HTTP error at the
 * handshake. engine.io's uWS server (engine.io/build/userver.js, `attach`) installs two handlers
 * on the app: `app.any(path, handleRequest)` for polling requests and `app.ws(path, { upgrade })`
 * for WebSocket upgrades. `wrap` hands attachApp an app whose `any` and `ws` put the admission
 * check in front of those two, for requests without a `sid` (a new session): the polling `open`
 * and a direct WebSocket handshake. Requests of existing sessions (polling, the upgrade of a
 * polling session) pass untouched.
 */
import { Counter, type Registry } from "prom-client";
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocketBehavior } from "uWebSockets.js";
import { ConnectionAdmission, type AdmissionSettings, type RefusalReason } from "./admission.js";

/** What the gate needs of engine.io's server: its session count and the events that end a handshake. */
export interface EngineLike {
  clientsCount: number;
  on(event: "connection", listener: () => void): unknown;
  on(event: "connection_error", listener: (error: { req?: { _query?: Record<string, string> } }) => void): unknown;
}

export class HandshakeGate {
  private readonly admission: ConnectionAdmission;
  private readonly refused: Counter<"reason">;
  private engine: EngineLike | undefined;
  /** Handshakes admitted that engine.io has not yet turned into a session or refused. */
  private pending = 0;

  constructor(settings: AdmissionSettings, registry: Registry) {
    this.admission = new ConnectionAdmission(settings, () => (this.engine?.clientsCount ?? 0) + this.pending);
    this.refused = new Counter({
      name: "chat_connections_refused_total",
      help: "New connections refused at the handshake with 503 + Retry-After, by reason (max_connections, connect_rate)",
      labelNames: ["reason"],
      registers: [registry],
    });
    for (const reason of ["max_connections", "connect_rate"] satisfies RefusalReason[]) this.refused.inc({ reason }, 0);
  }

  /** The app to give socket.io's attachApp: the same app, with the admission check in front of engine.io's handlers. */
  wrap(app: TemplatedApp): TemplatedApp {
    // The proxy's handlers run with the proxy as `this`; they call back into this gate.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const gate = this;
    const wrapped: TemplatedApp = new Proxy(app, {
      get(target, property, receiver) {
        if (property === "any") {
          return (pattern: string, handler: (res: HttpResponse, req: HttpRequest) => void) => {
            target.any(pattern, (res, req) => {
              if (gate.guard(res, req)) handler(res, req);
            });
            return wrapped;
          };
        }
        if (property === "ws") {
          return (pattern: string, behavior: WebSocketBehavior<unknown>) => {
            const upgrade = behavior.upgrade;
            const guarded = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
              if (gate.guard(res, req)) return upgrade?.(res, req, context);
            };
            target.ws(pattern, upgrade ? { ...behavior, upgrade: guarded } : behavior);
            return wrapped;
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return wrapped;
  }

  /** Call once attachApp created the engine: the connection count and the end of each admitted handshake come from it. */
  track(engine: EngineLike): void {
    this.engine = engine;
    engine.on("connection", () => (this.pending = Math.max(0, this.pending - 1)));
    engine.on("connection_error", (error) => {
      if (!error.req?._query?.["sid"]) this.pending = Math.max(0, this.pending - 1);
    });
  }

  /** True: let engine.io handle it. False: answered 503 here. */
  private guard(res: HttpResponse, req: HttpRequest): boolean {
    if (new URLSearchParams(req.getQuery() ?? "").has("sid")) return true;
    const decision = this.admission.admit();
    if (decision.admitted) {
      this.pending++;
      return true;
    }
    this.refused.inc({ reason: decision.reason });
    const body = JSON.stringify({
      error: {
        code: "UNAVAILABLE",
        message: `this node takes no more connections now (${decision.reason}); retry after Retry-After seconds`,
        retryAfterMs: decision.retryAfterSeconds * 1000,
      },
    });
    res.cork(() => {
      res
        .writeStatus("503 Service Unavailable")
        .writeHeader("Retry-After", String(decision.retryAfterSeconds))
        .writeHeader("Content-Type", "application/json")
        .writeHeader("Cache-Control", "no-store")
        .end(body);
    });
    return false;
  }
}
