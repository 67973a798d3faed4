/**
 * Every Redis key the product writes, and every pub/sub channel it uses, in one place. All keys start with the configured prefix
 * so test runs and clusters can share a Redis without touching each other's data.
 *
 * Redis Cluster: a script or MULTI may only touch keys of one hash slot. Every key the send
 * path touches atomically (the room's meta, recent history, idempotency records, its shard
 * stream, that stream's failure counts and dead letters, and the shard's liveness marker) carries
 * the hash tag of the room's shard, `{s<shard>}`, so they share a slot. The sender's rate bucket
 * is in the user's own slot and is taken in a step of its own (send-rate.ts). Single Redis uses
 * the same names: one code path for both modes.
 *
 * The prefix stays outside the tag, so `<prefix>*` still finds every key of one deployment;
 * it must not contain braces (they would become the hash tag).
 *
 * Separators: user ids and room ids never contain "|" (see docs/protocol.md "Names"), so
 * `from|room|clientId` splits back unambiguously even though room ids may contain ":". A brace
 * in a room or user id after the shard's tag changes nothing: only the first `{…}` counts.
 */
export class RedisKeys {
  constructor(
    readonly prefix: string,
    readonly shardCount: number,
  ) {
    if (/[{}]/.test(prefix)) throw new Error(`a Redis key prefix must not contain braces (they make a hash tag), got "${prefix}"`);
    if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error(`shard count must be a positive integer, got ${shardCount}`);
  }

  /** The shard (and so the hash slot) of a room: fixed per room, so the room's order is kept. */
  shardOf(room: string): number {
    return fnv1a32(room) % this.shardCount;
  }

  /** Hash { seq, ts, run }: the room's last assigned seq and timestamp, and the Redis run that vouched for them. Never expires. */
  roomMeta(room: string): string {
    return `${this.shardPrefix(this.shardOf(room))}room:${room}:meta`;
  }

  /** Sorted set seq → message JSON: the room's newest messages, for history without Cassandra. */
  roomRecent(room: string): string {
    return `${this.shardPrefix(this.shardOf(room))}room:${room}:recent`;
  }

  /** String: the first receipt of (from, room, clientId), for idempotent sends; in the room's slot. */
  idempotency(from: string, room: string, clientId: string): string {
    return `${this.shardPrefix(this.shardOf(room))}idem:${from}|${room}|${clientId}`;
  }

  /**
   * String with a short TTL: the run id of the Redis process serving the shard's slot, cached
   * so the append script need not ask INFO on every send (see append-script.ts, "Runs").
   */
  shardRun(shard: number): string {
    return `${this.shardPrefix(shard)}run`;
  }

  /** Hash { tokens, at }: the user's send-rate token bucket, in a slot of its own. */
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
    return `${this.shardPrefix(shard)}stream`;
  }

  /** Every write-buffer stream, in shard order. */
  streams(): string[] {
    return Array.from({ length: this.shardCount }, (_, shard) => this.stream(shard));
  }

  /** Where a shard stream's entries go after failing to flush too many times: in its slot, so an entry moves in one MULTI. */
  deadLetterStreamOf(stream: string): string {
    return `${stream}:dead-letter`;
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

  /** The shard stream a room's messages go to. */
  streamOf(room: string): string {
    return this.stream(this.shardOf(room));
  }

  private shardPrefix(shard: number): string {
    return `${this.prefix}{s${shard}}`;
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
