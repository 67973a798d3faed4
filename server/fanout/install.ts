/**
 * Everything that moves a message to sockets, installed in one call: the Redis adapter (to
 * the other nodes), the room broadcast (to this node's sockets), and the publisher the chat
 * domain publishes through. The Redis clients come in as parameters, so changing how nodes
 * reach each other (another adapter, Redis Cluster) stays inside this folder.
 */
import type { Redis } from "ioredis";
import type { Server } from "socket.io";
import type { TemplatedApp } from "uWebSockets.js";
import type { RedisKeys } from "../../storage/keys.js";
import type { ChangePublisher, RoomPublisher } from "../chat/ports.js";
import { SocketIoRoomPublisher, type PublisherMetrics } from "./publisher.js";
import { redisFanout } from "./redis-adapter.js";
import { installRoomBroadcast } from "./room-broadcast.js";

export interface FanoutOptions {
  /** socket.io, already attached to `app` (createRealtime). */
  io: Server;
  app: TemplatedApp;
  /** Publishes to the other nodes; may be the node's command client. */
  pubClient: Redis;
  /** A connection of its own: a subscribed Redis connection can run no other command. */
  subClient: Redis;
  keys: RedisKeys;
  metrics: PublisherMetrics;
}

export function installFanout({ io, app, pubClient, subClient, keys, metrics }: FanoutOptions): RoomPublisher & ChangePublisher {
  io.adapter(redisFanout(pubClient, subClient, keys.fanoutChannelPrefix()));
  // After the adapter: installRoomBroadcast checks the namespace's adapter instance, which
  // io.adapter() replaces; the Redis adapter's broadcast ends in the patched local one.
  installRoomBroadcast(io, app);
  return new SocketIoRoomPublisher(io, metrics);
}
