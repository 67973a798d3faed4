/**
 * Cross-node fan-out: the socket.io Redis adapter, with msgpackr as its parser (faster and
 * smaller than the default notepack.io), on a channel prefix of our own (storage/keys.ts) so
 * several clusters or test runs can share one Redis. On Redis Cluster: the sharded adapter.
 */
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import type { Redis } from "ioredis";
import type { Cluster } from "ioredis";
import { Packr } from "msgpackr";

// useRecords: false keeps the payload plain MessagePack, readable by any MessagePack decoder.
const packr = new Packr({ useRecords: false });

export function redisFanout(pubClient: Redis, subClient: Redis, channelPrefix: string): ReturnType<typeof createAdapter> {
  return createAdapter(pubClient, subClient, {
    key: channelPrefix,
    parser: { encode: (value: unknown) => packr.pack(value), decode: (buffer: Buffer) => packr.unpack(buffer) },
  });
}

/**
 * Redis Cluster: sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis >= 7.0), one channel per room
 * ("dynamic"), so a node subscribes only to the rooms it has members in and receives no other
 * room's messages, and the channels spread over the primaries with their slots. Both clients
 * must be ioredis Clusters with `shardedSubscribers: true` (storage/redis-client.ts): without
 * it the adapter fails silently. Its parser is notepack.io (the sharded adapter takes none).
 */
export function shardedFanout(pubClient: Cluster, subClient: Cluster, channelPrefix: string): ReturnType<typeof createShardedAdapter> {
  return createShardedAdapter(pubClient, subClient, { channelPrefix, subscriptionMode: "dynamic" });
}
