/**
 * Cross-node fan-out: the socket.io Redis adapter, with msgpackr as its parser (faster and
 * smaller than the default notepack.io), on a channel prefix of our own (storage/keys.ts) so
 * several clusters or test runs can share one Redis.
 */
import { createAdapter } from "@socket.io/redis-adapter";
import type { Redis } from "ioredis";
import { Packr } from "msgpackr";

// useRecords: false keeps the payload plain MessagePack, readable by any MessagePack decoder.
const packr = new Packr({ useRecords: false });

export function redisFanout(pubClient: Redis, subClient: Redis, channelPrefix: string): ReturnType<typeof createAdapter> {
  return createAdapter(pubClient, subClient, {
    key: channelPrefix,
    parser: { encode: (value: unknown) => packr.pack(value), decode: (buffer: Buffer) => packr.unpack(buffer) },
  });
}
