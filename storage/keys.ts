/**
 * Every Redis key the product writes, and every pub/sub channel it uses, in one place. All keys start with the configured prefix
 * so test runs and clusters can share a Redis without touching each other's data.
 *
 * Separators: user ids and room ids never contain "|" (see PROTOCOL.md "Names"), so
 * `from|room|clientId` splits back unambiguously even though room ids may contain ":".
 */
export class RedisKeys {
  constructor(readonly prefix: string, readonly shardCount: number) {}

  /** Hash { seq, ts }: the room's last assigned seq and timestamp. Never expires. */
  roomMeta(room: string): string {
    return `${this.prefix}room:${room}:meta`;
  }

  /** Sorted set seq → message JSON: the room's newest messages, for history without Cassandra. */
  roomRecent(room: string): string {
    return `${this.prefix}room:${room}:recent`;
  }

  /** String: the first receipt of (from, room, clientId), for idempotent sends. */
  idempotency(from: string, room: string, clientId: string): string {
    return `${this.prefix}idem:${from}|${room}|${clientId}`;
  }

  /** Hash { tokens, at }: the user's send-rate token bucket. */
  sendRate(userId: string): string {
    return `${this.prefix}rate:${userId}`;
  }

  /**
   * Counter: every client event the user made, cluster-wide, added by each node about every
   * 250 ms; expires when the user is idle (server/cluster/budget-sync.ts).
   */
  eventBudget(userId: string): string {
    return `${this.prefix}budget:${userId}`;
  }

  /**
   * Hash node → "<count>|<expiry ms>": how many sockets the user has on each node, each entry
   * refreshed by its node's heartbeat so a dead node's entry stops counting
   * (server/cluster/connection-registry.ts).
   */
  userConnections(userId: string): string {
    return `${this.prefix}conns:${userId}`;
  }

  /** Write-buffer stream number `shard`. */
  stream(shard: number): string {
    return `${this.prefix}stream:${shard}`;
  }

  /** Every write-buffer stream, in shard order. */
  streams(): string[] {
    return Array.from({ length: this.shardCount }, (_, shard) => this.stream(shard));
  }

  /** Where entries go after failing to flush too many times. */
  deadLetterStream(): string {
    return `${this.prefix}stream:dead-letter`;
  }

  /**
   * Hash entry id → how many times writing that entry failed for a reason of its own (not an
   * outage), so the count survives flusher restarts; fields go when the entry is acked.
   */
  flushFailures(stream: string): string {
    return `${stream}:failures`;
  }

  /**
   * Sorted set "<user>|<node>" → expiry (ms since the epoch): who is online in the room through
   * which node (server/realtime/presence.ts).
   */
  presence(room: string): string {
    return `${this.prefix}presence:${room}`;
  }

  /**
   * The prefix of the socket.io Redis adapter's pub/sub channels (its `key` option; the adapter
   * appends "#<namespace>#..."): cross-node fan-out (server/fanout/).
   */
  fanoutChannelPrefix(): string {
    return `${this.prefix}socket.io`;
  }

  /** The shard stream a room's messages go to: fixed per room, so the room's order is kept. */
  streamOf(room: string): string {
    return this.stream(fnv1a32(room) % this.shardCount);
  }
}

/** 32-bit FNV-1a: a fast, stable hash; it only has to spread rooms evenly over shards. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
