/**
 * socket.io on uWebSockets.js: engine options, the origin allow-list, session ids that name
 * this node (for the gateway's sticky routing), JWT authentication with the per-user connection
 * cap, the frame limit, the outgoing buffer cap, and the client events with their budget and flood check.
 */
import { randomBytes } from "node:crypto";
import { Server, type Socket } from "socket.io";
import type { TemplatedApp } from "uWebSockets.js";
import type { Logger } from "../../common/logger.js";
import { AuthError, type TokenVerifier } from "../auth/tokens.js";
import { FLOOD_BURST_FACTOR, FLOOD_FACTOR } from "../chat/limits.js";
import type { Principal } from "../chat/principal.js";
import type { NodeMetrics } from "../metrics.js";
import { createDispatcher, type EventBinding } from "./dispatch.js";
import { ExpiryWheel } from "./expiry.js";
import { REFUSED_TOKEN_MEMORY_MS, RefusedTokens, SharedVerifications } from "./early-refusal.js";
import { FloodGuard } from "./flood-guard.js";
import { sizeLimitedParser, TRANSPORT_MAX_BYTES } from "./frame-limit.js";
import { OutgoingBufferCap } from "./slow-consumer.js";

/** The per-user connection cap, cluster-wide (server/cluster/connection-registry.ts). */
export interface ConnectionCap {
  acquire(user: string): Promise<boolean>;
  release(user: string): void;
  /** True when `acquire` would refuse `user` without asking Redis (the node's own count, or a refusal moments ago). */
  refusesAtOnce(user: string): boolean;
}

import type { AdmissionSettings } from "./admission.js";
import { HandshakeGate } from "./handshake-gate.js";

export interface RealtimeOptions {
  nodeName: string;
  /** False while the node drains: new connections are refused so clients go to another node. */
  acceptsClients: () => boolean;
  allowedOrigins: string[];
  verifier: TokenVerifier;
  connections: ConnectionCap;
  /** An engine.io session that has not authenticated (joined the namespace) within this long is closed. */
  authTimeoutInMs: number;
  /** A socket with more than this many bytes waiting for its client is closed (slow-consumer.ts). */
  maxOutgoingBufferBytes: number;
  metrics: NodeMetrics;
  logger: Logger;
  /** Connection limits answered 503 + Retry-After at the handshake (handshake-gate.ts); none when absent. */
  admission?: AdmissionSettings;
  /** Told of each handshake refused for its Origin (the log line and metric live in server/http/origin-policy.ts). */
  onOriginRefused?: (origin: string) => void;
}

/** What every event of a connected socket goes through (see onConnection). */
export interface EventAdmissionOptions {
  /** Charges an event to the user's budget (ChatService.admit); throws RATE_LIMITED. */
  admit: (principal: Principal) => void;
  eventsPerSecond: number;
  floodDisconnectAfterMs: number;
}

/** Large enough for a 4000-character text and 2 KB of meta in JSON, small enough to bound abuse. */
export const MAX_EVENT_BYTES = 64 * 1024;

export function createRealtime(app: TemplatedApp, options: RealtimeOptions): Server {
  const io = new Server({
    serveClient: false,
    // Frames up to the transport's cap reach the parser, which answers those over
    // MAX_EVENT_BYTES with TOO_LARGE instead of a dropped connection.
    maxHttpBufferSize: TRANSPORT_MAX_BYTES,
    parser: sizeLimitedParser(MAX_EVENT_BYTES, ({ bytes, outcome }) => {
      options.metrics.refusals.inc({ reason: "event_too_large" });
      options.logger.warn(
        { bytes, outcome, limit: MAX_EVENT_BYTES },
        outcome === "answered"
          ? "event over the frame limit: answered TOO_LARGE"
          : "frame over the limit without an ack id: closing the socket",
      );
    }),
    // socket.io closes a session that has not joined a namespace (authenticated) in time.
    connectTimeout: options.authTimeoutInMs,
    allowRequest: (req, callback) => {
      if (!isOriginAllowed(req.headers.origin, req.headers.host, options.allowedOrigins)) {
        options.onOriginRefused?.(req.headers.origin ?? "");
        return callback("origin not allowed", false);
      }
      callback(null, options.acceptsClients());
    },
    cors: options.allowedOrigins.length > 0 ? { origin: options.allowedOrigins, credentials: true } : undefined,
  });
  // The user of each authenticated engine.io session (for countAuthTimeout and the log line of a slow consumer).
  const authenticated = new WeakMap<object, string>();
  const outgoing = new OutgoingBufferCap(options.maxOutgoingBufferBytes, (session, { transport, bufferedBytes }) => {
    options.metrics.refusals.inc({ reason: "slow_consumer" });
    options.logger.warn(
      { user: authenticated.get(session), transport, bufferedBytes, limit: options.maxOutgoingBufferBytes },
      "closed a socket whose client does not read: more than the outgoing buffer limit was waiting for it",
    );
  });
  // attachApp patches socket.io-adapter's Adapter.prototype for the whole process: one uWS
  // server per process (two would deliver every broadcast twice).
  const gate = options.admission && new HandshakeGate(options.admission, options.metrics.registry);
  const capped = outgoing.wrap(app);
  io.attachApp(gate ? gate.wrap(capped) : capped);
  gate?.track(io.engine);
  outgoing.track(io.engine);
  // The gateway routes polling requests by the prefix of the `sid` query parameter, because
  // clients such as socket.io-client on Node keep no cookies. Must be set after attachApp,
  // which creates the engine.
  io.engine.generateId = () => `${options.nodeName}-${randomBytes(15).toString("base64url")}`;
  io.engine.on("connection", forgetUpgradeRequest);
  // Sessions closed by the authentication timeout are counted as refusals: socket.io's timer
  // closes them as "forced close", and they never authenticated.
  function countAuthTimeout(this: object, reason: string): void {
    if (reason === "forced close" && !authenticated.has(this)) options.metrics.refusals.inc({ reason: "auth_timeout" });
  }
  io.engine.on("connection", (rawSocket: { on(event: "close", listener: (this: object, reason: string) => void): void }) =>
    rawSocket.on("close", countAuthTimeout),
  );
  io.use(authenticate(options, (socket, principal) => authenticated.set(socket.conn, principal.userId)));
  return io;
}

/**
 * engine.io keeps the upgrade request of every connection for its whole life (`request`: the
 * uWS request object with a copy of every header, the query, the response): ~0.6 KB per idle
 * connection that nothing reads after the handshake (allowRequest has run by then). socket.io's
 * documentation recommends this ("Memory usage"). socket.io builds `socket.handshake` from it
 * later, so handshake headers and query are empty; our authentication reads only `auth`.
 */
function forgetUpgradeRequest(rawSocket: { request?: unknown }): void {
  // If engine.io renames the field, the request would silently stay: refuse the connection instead.
  if (!("request" in rawSocket))
    throw new Error("engine.io sockets no longer have `request`: review forgetUpgradeRequest in server/realtime/io.ts");
  rawSocket.request = null;
}

/**
 * What `socket.handshake` keeps once authenticated, shared by every socket: the client's auth
 * payload holds the token, a credential the session does not need once verified; headers and
 * query are empty (the request is dropped above) but socket.io makes a new `{}` for each.
 * Frozen, so a write to them fails loudly instead of leaking into other sockets.
 */
const NOTHING: Record<string, never> = Object.freeze({});

/**
 * Non-browser clients send no Origin and are let through (they are authenticated by token);
 * a browser's Origin must be in the allow-list, or equal the host it connects to when the
 * list is empty.
 */
export function isOriginAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.length > 0) return allowed.includes(origin);
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * Verifies the token, then reserves one of the user's connections: `connect_error` UNAUTHORIZED
 * (with the reason) or LIMIT_REACHED. A reservation is released when the socket disconnects,
 * or at once if the client went away before socket.io connected it (no `disconnect` follows).
 *
 * A user at the cap is refused as cheaply as possible (early-refusal.ts): a token refused moments
 * ago is not verified again while the cap still refuses its user at once, connections with the
 * same token at the same time share one verification, and the cap answers without Redis when it
 * can. The client sees the same LIMIT_REACHED either way.
 */
function authenticate(
  { verifier, connections, metrics }: RealtimeOptions,
  onAuthenticated: (socket: Socket, principal: Principal) => void,
) {
  const verifications = new SharedVerifications((token) => verifier.verify(token));
  const refusedTokens = new RefusedTokens(REFUSED_TOKEN_MEMORY_MS);
  const refuseLimitReached = (next: (error?: Error) => void) => {
    metrics.refusals.inc({ reason: "connections_per_user" });
    next(
      Object.assign(new Error("LIMIT_REACHED"), {
        data: { code: "LIMIT_REACHED", message: "this user has too many connections open; close one first" },
      }),
    );
  };
  return (socket: Socket, next: (error?: Error) => void) => {
    const token: unknown = socket.handshake.auth?.["token"];
    const knownUser = refusedTokens.userOf(token);
    if (knownUser !== undefined && connections.refusesAtOnce(knownUser)) return refuseLimitReached(next);
    verifications
      .principalOf(token)
      .then(
        async (principal) => {
          if (!(await connections.acquire(principal.userId))) {
            refusedTokens.remember(token, principal);
            return refuseLimitReached(next);
          }
          socket.data.principal = principal;
          socket.data.holdsConnection = true;
          onAuthenticated(socket, principal);
          Object.assign(socket.handshake, { auth: NOTHING, headers: NOTHING, query: NOTHING });
          next();
          // socket.io connects the socket on the next tick, unless the client closed meanwhile.
          setImmediate(() => {
            if (!socket.connected) releaseConnection(socket, connections);
          });
        },
        (error: unknown) => {
          const code = error instanceof AuthError ? error.code : "AUTH_INVALID";
          const message = error instanceof AuthError ? error.message : "the token is not valid";
          if (error instanceof AuthError && error.refusal) metrics.refusals.inc({ reason: error.refusal });
          next(Object.assign(new Error("UNAUTHORIZED"), { data: { code, message } }));
        },
      )
      .catch((error: unknown) => next(error instanceof Error ? error : new Error(String(error))));
  };
}

function releaseConnection(socket: Socket, connections: ConnectionCap): void {
  if (socket.data.holdsConnection !== true) return;
  socket.data.holdsConnection = false;
  connections.release(principalOf(socket).userId);
}

/**
 * Wires connected sockets: their events, their metrics, their end when the token expires, and
 * `onLeaveRooms` with the rooms a socket was in when it disconnects (for presence). Every
 * listener is shared by all sockets (Node's EventEmitter calls listeners with `this` = the
 * emitter), so an idle connection carries no closures of ours.
 */
export function onConnection(
  io: Server,
  events: readonly EventBinding[],
  options: RealtimeOptions & EventAdmissionOptions,
  onLeaveRooms: (principal: Principal, rooms: string[]) => void,
): void {
  const { metrics, logger } = options;
  const flood = new FloodGuard(
    options.eventsPerSecond * FLOOD_FACTOR,
    Math.ceil(options.floodDisconnectAfterMs / 1000),
    options.eventsPerSecond * FLOOD_BURST_FACTOR,
  );
  const dispatch = createDispatcher(events, metrics, {
    admit: options.admit,
    flood,
    onFlood(socket) {
      metrics.refusals.inc({ reason: "flood_disconnect" });
      logger.warn(
        { "user.id": principalOf(socket).userId, reason: "RATE_LIMITED" },
        "disconnecting a socket that kept sending at 10x the event limit (or 20x within a second)",
      );
      // Tells the client why before the transport closes (stock clients see "io server disconnect").
      socket.emit("closing", { code: "RATE_LIMITED", message: "too many events for too long; reconnect later and slow down" });
      socket.disconnect(true);
    },
  });
  const expiry = new ExpiryWheel<Socket>((socket) => socket.disconnect(true));
  function onDisconnecting(this: Socket): void {
    onLeaveRooms(
      principalOf(this),
      [...this.rooms].filter((room) => room !== this.id),
    );
  }
  function onDisconnect(this: Socket): void {
    expiry.remove(this, principalOf(this).expiresAt);
    releaseConnection(this, options.connections);
    options.metrics.connections.dec();
  }
  io.on("connection", (socket) => {
    socket.onAny(dispatch);
    socket.on("disconnecting", onDisconnecting);
    socket.on("disconnect", onDisconnect);
    expiry.add(socket, principalOf(socket).expiresAt);
    options.metrics.connections.inc();
  });
}

function principalOf(socket: Socket): Principal {
  return socket.data.principal as Principal;
}
