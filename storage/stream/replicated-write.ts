/**
 * A keyed write followed by WAIT, for acknowledged writes with ack replicas (CHAT_ACK_REPLICAS):
 * the write and WAIT go in one pipeline, so they share a round trip and, on Redis Cluster, the
 * connection of the write's slot (a bare WAIT through a Cluster client goes to an arbitrary
 * primary and can acknowledge falsely).
 */
import type { ChainableCommander } from "ioredis";
import { isCluster, type RedisClient } from "../redis-client.js";

/** CHAT_ACK_REPLICAS / CHAT_ACK_TIMEOUT_MS: how many replicas must have a write before it is acknowledged. */
export interface AckReplicas {
  count: number;
  timeoutInMs: number;
}

/**
 * WAIT answered fewer replicas than required in time. The write may still be stored (and may
 * still reach the replicas); the client retries with the same clientId and gets the first
 * receipt once it is replicated. The node answers UNAVAILABLE with retryAfterMs.
 */
export class NotReplicatedError extends Error {
  override name = "NotReplicatedError";
  constructor(
    readonly replicas: number,
    readonly required: number,
  ) {
    super(`the write reached ${replicas} of ${required} required replicas in time`);
  }
}

/** A pipeline answered MOVED is sent again after a slot-map refresh at most this often. */
const MAX_REDIRECTIONS = 3;

/**
 * Runs a [keyed command, WAIT] pipeline. ioredis follows a MOVED answer in a Cluster pipeline
 * only when every command of it got the same error, and WAIT (keyless) never does, so after
 * a failover such a pipeline would keep going to the former primary of the slot: on MOVED the
 * slot map is refreshed and the pipeline sent again (the keyed command did not run there).
 */
export async function execWithWait(redis: RedisClient, build: () => ChainableCommander): Promise<unknown[]> {
  for (let attempt = 0; ; attempt++) {
    const results = await build().exec();
    const moved = results?.find(([error]) => error instanceof Error && error.message.startsWith("MOVED "));
    if (moved === undefined || !isCluster(redis) || attempt >= MAX_REDIRECTIONS) return unwrapPipeline(results);
    await new Promise<void>((resolve) => redis.refreshSlotsCache(() => resolve()));
  }
}

function unwrapPipeline(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error("Redis pipeline aborted");
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
