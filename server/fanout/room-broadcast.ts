/**
 * Room broadcasts whose cost does not grow with the room in JavaScript.
 *
 * socket.io's uWS integration (node_modules/socket.io/dist/uws.js, installed by attachApp)
 * publishes a broadcast once to the room's uWS topic, which uWS delivers natively to every
 * websocket client, and then still walks every socket of the room in JS, building a Set of
 * their ids, only to find the few still on HTTP long-polling. At 1000 sockets per room that
 * walk was 5–9 % of a node's CPU (bench/README.md). Here the node keeps the set of its sockets
 * that are still on polling, so a broadcast costs one publish plus O(polling sockets).
 *
 * Same delivery as socket.io's: the fast path applies under the same condition (at most one
 * room, no exceptions) in the main namespace, the only one this server uses; everything else
 * goes to socket.io's own broadcast.
 */
import { uServer } from "engine.io";
import { Adapter, type BroadcastOptions } from "socket.io-adapter";
import type { Namespace, Server, Socket } from "socket.io";
import type { TemplatedApp } from "uWebSockets.js";

/** socket.io's uws.js joins namespace and room with this separator in topic names. */
const TOPIC_SEPARATOR = "\x1f";

/** The Adapter internals the fast path reads; present in socket.io-adapter 2.5. */
interface AdapterInternals {
  nsp: Namespace;
  sids: Map<string, Set<string>>;
  encoder: { encode(packet: unknown): (string | Buffer)[] };
}

type Broadcast = (this: Adapter, packet: Record<string, unknown>, opts: BroadcastOptions) => void;

/**
 * Installs the broadcast for the whole process (like attachApp, which must have run first:
 * the fallback is the broadcast attachApp installed).
 */
export function installRoomBroadcast(
  io: Server,
  app: TemplatedApp,
  /** Sees every broadcast to one room of the main namespace first; false drops it (its sockets already have it). */
  onRoomPacket?: (room: string, packet: Record<string, unknown>) => boolean,
): void {
  // Websocket clients are subscribed to their rooms' topics by socket.io's uWS integration;
  // without it every publish below would reach nobody.
  if (!(io.engine instanceof uServer)) throw new Error("installRoomBroadcast needs io.attachApp(app) first");
  const adapter = io.of("/").adapter;
  // One copy of socket.io-adapter: the prototype patched here is the one every adapter uses.
  if (!(adapter instanceof Adapter))
    throw new Error("the namespace adapter is not a socket.io-adapter Adapter: two copies of socket.io-adapter are installed");
  if (!("encoder" in adapter) || !("sids" in adapter))
    throw new Error("socket.io-adapter changed its internals (encoder, sids): review server/fanout/room-broadcast.ts");

  const polling = trackPollingSockets(io);
  const socketIoBroadcast = Adapter.prototype.broadcast as Broadcast;

  Adapter.prototype.broadcast = function (this: Adapter, packet: Record<string, unknown>, opts: BroadcastOptions): void {
    const { nsp, sids, encoder } = this as unknown as AdapterInternals;
    // Every room broadcast on this node, local or from another node, passes here.
    if (onRoomPacket && nsp === io.sockets && opts.rooms.size === 1 && !onRoomPacket(opts.rooms.values().next().value as string, packet))
      return;
    if (nsp !== io.sockets || opts.rooms.size > 1 || (opts.except?.size ?? 0) > 0) return socketIoBroadcast.call(this, packet, opts);
    packet["nsp"] = nsp.name;
    const encoded = encoder.encode(packet);
    const room = opts.rooms.size === 0 ? undefined : (opts.rooms.values().next().value as string);
    const topic = room === undefined ? nsp.name : `${nsp.name}${TOPIC_SEPARATOR}${room}`;
    for (const frame of encoded) {
      // "4" is the Engine.IO message type; binary frames go as they are.
      if (typeof frame === "string") app.publish(topic, `4${frame}`, false);
      else app.publish(topic, frame, true);
    }
    if (polling.size === 0) return;
    const writeOptions = { preEncoded: true, volatile: opts.flags?.volatile, compress: opts.flags?.compress };
    for (const socket of polling) {
      if (room === undefined || sids.get(socket.id)?.has(room)) socket.client["writeToEngine"](encoded, writeOptions);
    }
  };
}

/**
 * The main namespace's connected sockets whose transport is not (yet) websocket. A socket
 * leaves the set when Engine.IO upgrades it (Engine.IO never downgrades) or disconnects.
 */
function trackPollingSockets(io: Server): Set<Socket> {
  const polling = new Set<Socket>();
  // "connection" is emitted synchronously after the socket joined its own room, before any
  // other room; no broadcast can run in between. socket.io's own "upgrade" listener (which
  // subscribes the websocket to the socket's room topics) was registered before this one.
  io.on("connection", (socket) => {
    if (socket.conn.transport.name === "websocket") return;
    polling.add(socket);
    const forget = () => polling.delete(socket);
    socket.conn.once("upgrade", forget);
    socket.once("disconnect", () => {
      forget();
      socket.conn.off("upgrade", forget);
    });
  });
  return polling;
}
