/**
 * Everything that moves a message to sockets, installed in one call: the Redis adapter (to
 * the other nodes), the room broadcast (to this node's sockets), and the publisher the chat
 * domain publishes through. The Redis clients come in as parameters, so changing how nodes
 * reach each other (another adapter, Redis Cluster) stays inside this folder.
 */
import { Cluster } from "ioredis";
import type { Server } from "socket.io";
import type { TemplatedApp } from "uWebSockets.js";
import type { RedisKeys } from "../../storage/keys.js";
import type { RedisClient } from "../../storage/redis-client.js";
import type { ChangePublisher, RoomPublisher } from "../chat/ports.js";
import { SocketIoRoomPublisher, type PublisherMetrics } from "./publisher.js";
import { redisFanout, shardedFanout } from "./redis-adapter.js";
import { installRoomBroadcast } from "./room-broadcast.js";

export interface FanoutOptions {
  /** socket.io, already attached to `app` (createRealtime). */
  io: Server;
  app: TemplatedApp;
  /** Publishes to the other nodes; may be the node's command client. */
  pubClient: RedisClient;
  /** A connection of its own: a subscribed Redis connection can run no other command. */
  subClient: RedisClient;
  keys: RedisKeys;
  metrics: PublisherMetrics;
  /**
   * Told of every room log entry (message or change) about to be delivered to this node's
   * sockets (the room catch-up's input): false drops it, as one the sockets already have.
   */
  onMessageDelivered?: (room: string, seq: number) => boolean;
}

export function installFanout({
  io,
  app,
  pubClient,
  subClient,
  keys,
  metrics,
  onMessageDelivered,
}: FanoutOptions): RoomPublisher & ChangePublisher {
  // Same client kind for both (one factory); a Cluster gets the sharded adapter.
  if (pubClient instanceof Cluster && subClient instanceof Cluster)
    io.adapter(shardedFanout(pubClient, subClient, keys.fanoutChannelPrefix()));
  else if (!(pubClient instanceof Cluster) && !(subClient instanceof Cluster))
    io.adapter(redisFanout(pubClient, subClient, keys.fanoutChannelPrefix()));
  else throw new Error("fan-out needs two Redis clients of the same kind (both Cluster or both single)");
  // After the adapter: installRoomBroadcast checks the namespace's adapter instance, which
  // io.adapter() replaces; the Redis adapter's broadcast ends in the patched local one.
  installRoomBroadcast(
    io,
    app,
    onMessageDelivered &&
      ((room, packet) => {
        const data = packet["data"];
        // Messages and (v1.1) changes: both are entries of the room's log, numbered by seq.
        if (
          Array.isArray(data) &&
          (data[0] === "message" || data[0] === "change") &&
          typeof (data[1] as { seq?: unknown } | undefined)?.seq === "number"
        )
          return onMessageDelivered(room, (data[1] as { seq: number }).seq);
        return true;
      }),
  );
  return new SocketIoRoomPublisher(io, metrics);
}
