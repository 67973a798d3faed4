/**
 * The one place Redis clients are made, for socket nodes, the flusher, history and the
 * producer: a single Redis from CHAT_REDIS_URL, or an ioredis Cluster from the seed nodes in
 * CHAT_REDIS_CLUSTER_NODES. Both answer the same commands; the key layout (keys.ts) keeps every
 * atomic step inside one hash slot, so callers need not know which one they hold.
 */
import { Cluster, Redis } from "ioredis";
import type { RedisConfig } from "./config.js";

export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  /** Names the client in error reports, e.g. "redis", "redis-subscriber". */
  name: string;
  /**
   * Every client gets an `error` listener: without one, ioredis re-emits connection errors as
   * unhandled `error` events, which kill the process.
   */
  onError(error: Error, client: string): void;
  /**
   * Fail a command after this many reconnect attempts instead of queueing it for long (null:
   * wait for the connection). Socket nodes use 2: a send that cannot reach Redis should get
   * UNAVAILABLE quickly, so the client retries with the same clientId.
   */
  maxRetriesPerRequest?: number | null;
  /** Write the commands of one event-loop tick in one syscall (many sends' scripts per write). */
  autoPipelining?: boolean;
  lazyConnect?: boolean;
}

export function createRedisClient(config: RedisConfig, options: RedisClientOptions): RedisClient {
  const { maxRetriesPerRequest = 20, autoPipelining = false, lazyConnect = false } = options;
  const tls = config.tls === undefined ? {} : { tls: config.tls.ca === undefined ? {} : { ca: config.tls.ca } };
  const client: RedisClient =
    config.clusterNodes === undefined
      ? new Redis(config.url, { maxRetriesPerRequest, enableAutoPipelining: autoPipelining, lazyConnect, ...tls })
      : new Cluster(config.clusterNodes, {
          // Sharded pub/sub (SSUBSCRIBE, the sharded socket.io adapter) only works through a
          // Cluster client with sharded subscribers: without them it fails silently with MOVED.
          shardedSubscribers: true,
          enableAutoPipelining: autoPipelining,
          lazyConnect,
          redisOptions: { maxRetriesPerRequest, ...tls, ...(config.password === undefined ? {} : { password: config.password }) },
        });
  client.on("error", (error: Error) => options.onError(error, options.name));
  return client;
}

/** A second connection with the same settings (pub/sub subscribers, blocking reads), with its own error listener. */
export function duplicateClient(
  client: RedisClient,
  options: Pick<RedisClientOptions, "name" | "onError"> & { autoPipelining?: boolean },
): RedisClient {
  const copy: RedisClient =
    client instanceof Cluster
      ? client.duplicate([], { enableAutoPipelining: options.autoPipelining ?? false })
      : client.duplicate({ enableAutoPipelining: options.autoPipelining ?? false });
  copy.on("error", (error: Error) => options.onError(error, options.name));
  return copy;
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}
