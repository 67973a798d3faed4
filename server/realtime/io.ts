/**
 * socket.io on uWebSockets.js: engine options, the origin allow-list, session ids that name
 * this node (for the gateway's sticky routing), JWT authentication, and the client events.
 */
import { randomBytes } from "node:crypto";
import { Server, type Socket } from "socket.io";
import type { TemplatedApp } from "uWebSockets.js";
import type { Logger } from "../../common/logger.js";
import { AuthError, type TokenVerifier } from "../auth/tokens.js";
import type { Principal } from "../chat/principal.js";
import type { NodeMetrics } from "../metrics.js";
import { createDispatcher, type EventBinding } from "./dispatch.js";
import { ExpiryWheel } from "./expiry.js";

export interface RealtimeOptions {
  nodeName: string;
  /** False while the node drains: new connections are refused so clients go to another node. */
  acceptsClients: () => boolean;
  allowedOrigins: string[];
  verifier: TokenVerifier;
  metrics: NodeMetrics;
  logger: Logger;
  /** Told of each handshake refused for its Origin (the log line and metric live in server/http/origin-policy.ts). */
  onOriginRefused?: (origin: string) => void;
}

/** Large enough for a 4000-character text and 2 KB of meta in JSON, small enough to bound abuse. */
const MAX_PACKET_BYTES = 64 * 1024;

export function createRealtime(app: TemplatedApp, options: RealtimeOptions): Server {
  const io = new Server({
    serveClient: false,
    maxHttpBufferSize: MAX_PACKET_BYTES,
    allowRequest: (req, callback) => {
      if (!isOriginAllowed(req.headers.origin, req.headers.host, options.allowedOrigins)) {
        options.onOriginRefused?.(req.headers.origin ?? "");
        return callback("origin not allowed", false);
      }
      callback(null, options.acceptsClients());
    },
    cors: options.allowedOrigins.length > 0 ? { origin: options.allowedOrigins, credentials: true } : undefined,
  });
  // attachApp patches socket.io-adapter's Adapter.prototype for the whole process: one uWS
  // server per process (two would deliver every broadcast twice).
  io.attachApp(app);
  // The gateway routes polling requests by the prefix of the `sid` query parameter, because
  // clients such as socket.io-client on Node keep no cookies. Must be set after attachApp,
  // which creates the engine.
  io.engine.generateId = () => `${options.nodeName}-${randomBytes(15).toString("base64url")}`;
  io.engine.on("connection", forgetUpgradeRequest);
  io.use(authenticate(options.verifier));
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
  if (!("request" in rawSocket)) throw new Error("engine.io sockets no longer have `request`: review forgetUpgradeRequest in server/realtime/io.ts");
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

function authenticate(verifier: TokenVerifier) {
  return (socket: Socket, next: (error?: Error) => void) => {
    const token: unknown = socket.handshake.auth?.["token"];
    verifier.verify(token).then(
      (principal) => {
        socket.data.principal = principal;
        Object.assign(socket.handshake, { auth: NOTHING, headers: NOTHING, query: NOTHING });
        next();
      },
      (error: unknown) => {
        const code = error instanceof AuthError ? error.code : "AUTH_INVALID";
        const message = error instanceof AuthError ? error.message : "the token is not valid";
        next(Object.assign(new Error("UNAUTHORIZED"), { data: { code, message } }));
      },
    );
  };
}

/**
 * Wires connected sockets: their events, their metrics, their end when the token expires, and
 * `onLeaveRooms` with the rooms a socket was in when it disconnects (for presence). Every
 * listener is shared by all sockets (Node's EventEmitter calls listeners with `this` = the
 * emitter), so an idle connection carries no closures of ours.
 */
export function onConnection(io: Server, events: readonly EventBinding[], options: RealtimeOptions, onLeaveRooms: (principal: Principal, rooms: string[]) => void): void {
  const dispatch = createDispatcher(events, options.metrics);
  const expiry = new ExpiryWheel<Socket>((socket) => socket.disconnect(true));
  function onDisconnecting(this: Socket): void {
    onLeaveRooms(principalOf(this), [...this.rooms].filter((room) => room !== this.id));
  }
  function onDisconnect(this: Socket): void {
    expiry.remove(this, principalOf(this).expiresAt);
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
