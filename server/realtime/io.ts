/**
 * socket.io on uWebSockets.js: engine options, the origin allow-list, session ids that name
 * this node (for the gateway's sticky routing), JWT authentication, and the client events.
 */
import { randomBytes } from "node:crypto";
import { Server, type Socket } from "socket.io";
import type { TemplatedApp } from "uWebSockets.js";
import type { Logger } from "../../common/logger.js";
import type { NodeMetrics } from "../metrics.js";
import { AuthError, type Principal, type TokenVerifier } from "./auth.js";
import { rejectUnknownEvents, type EventBinding, type EventContext } from "./dispatch.js";

export interface RealtimeOptions {
  nodeName: string;
  /** False while the node drains: new connections are refused so clients go to another node. */
  acceptsClients: () => boolean;
  allowedOrigins: string[];
  verifier: TokenVerifier;
  metrics: NodeMetrics;
  logger: Logger;
}

/** Large enough for a 4000-character text and 2 KB of meta in JSON, small enough to bound abuse. */
const MAX_PACKET_BYTES = 64 * 1024;

export function createRealtime(app: TemplatedApp, options: RealtimeOptions): Server {
  const io = new Server({
    serveClient: false,
    maxHttpBufferSize: MAX_PACKET_BYTES,
    allowRequest: (req, callback) => callback(null, options.acceptsClients() && isOriginAllowed(req.headers.origin, req.headers.host, options.allowedOrigins)),
    cors: options.allowedOrigins.length > 0 ? { origin: options.allowedOrigins, credentials: true } : undefined,
  });
  // attachApp patches socket.io-adapter's Adapter.prototype for the whole process: one uWS
  // server per process (two would deliver every broadcast twice).
  io.attachApp(app);
  // The gateway routes polling requests by the prefix of the `sid` query parameter, because
  // clients such as socket.io-client on Node keep no cookies. Must be set after attachApp,
  // which creates the engine.
  io.engine.generateId = () => `${options.nodeName}-${randomBytes(15).toString("base64url")}`;
  io.use(authenticate(options.verifier));
  return io;
}

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
 * Wires a connected socket: its events, its metrics, its end when the token expires, and
 * `onLeaveRooms` with the rooms it was in when it disconnects (for presence).
 */
export function onConnection(io: Server, events: readonly EventBinding[], options: RealtimeOptions, onLeaveRooms: (principal: Principal, rooms: string[]) => void): void {
  const known = new Set(events.map((event) => event.name));
  io.on("connection", (socket) => {
    const principal = socket.data.principal as Principal;
    const context: EventContext = { socket, principal };
    for (const event of events) event.attach(context);
    rejectUnknownEvents(context, known, options.metrics);
    options.metrics.connections.inc();
    // setTimeout takes at most 2^31-1 ms (~24.8 days); longer tokens are cut there and the
    // client reconnects with a fresh one.
    const expiry = setTimeout(() => socket.disconnect(true), Math.min(Math.max(0, principal.expiresAt - Date.now()), 2 ** 31 - 1));
    socket.once("disconnecting", () => onLeaveRooms(principal, [...socket.rooms].filter((room) => room !== socket.id)));
    socket.once("disconnect", () => {
      clearTimeout(expiry);
      options.metrics.connections.dec();
    });
  });
}
