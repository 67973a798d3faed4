/**
 * Connections per user, cluster-wide (docs/protocol.md v1.1 "Limits": 20 by default).
 *
 * Each node is the authority on its own sockets: it keeps a count per user and mirrors it into
 * the user's Redis hash as its own field, "<count>|<expiry ms>". A connect runs one script on
 * that one key (so it works on Redis Cluster too): it sums the other nodes' unexpired counts,
 * refuses if this connection would pass the limit, else writes this node's new count. The
 * heartbeat rewrites every local user's field with a fresh expiry, like presence does; a node
 * that dies stops refreshing, and its fields stop counting after the TTL, so its users are not
 * locked out for longer than that. Every write states the node's count (never an increment),
 * so a lost write is corrected by the next one.
 *
 * If Redis cannot be reached the connection is let in (and logged): the cap protects the
 * cluster from one user, and refusing everyone while Redis is down protects nothing.
 *
 * Refusals that need no script (`refusesAtOnce`, issue 17: a user hammering the cap must cost
 * the node little, so the other users keep their latency):
 * - this node alone already holds or is reserving `limit` of the user's connections: the
 *   script would refuse too (it adds the other nodes' counts, never less than 0), so this is
 *   exactly its answer, and it holds while Redis is down;
 * - the script refused this user less than `atCapMemoryMs` ago (1 s by default): the user was
 *   at the cap cluster-wide. Forgotten when one of the user's connections on this node closes
 *   (or one is granted); a connection that closes on another node cannot be known here, so a
 *   user who just went under the cap there may be refused for at most that long. It is far
 *   shorter than `ttlInMs`, so a dead node's counts still stop counting when they expire.
 */
import type { RedisClient } from "../../storage/redis-client.js";
import type { RedisKeys } from "../../storage/keys.js";

/** How long the script's refusal of a user is remembered on a node unless told otherwise (see above). */
export const DEFAULT_AT_CAP_MEMORY_MS = 1000;

/**
 * KEYS: 1 the user's connections hash.  ARGV: 1 this node, 2 this node's count with the new
 * connection, 3 now ms, 4 expiry ms, 5 limit, 6 the hash's own TTL ms.
 * Returns 1 and records the count if the user stays within the limit, else 0 (nothing written).
 * Expired fields of other nodes are removed on the way.
 */
const ACQUIRE_SCRIPT = `
local others = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if fields[i] ~= ARGV[1] then
    local count, expiry = string.match(fields[i + 1], '^(%d+)|(%d+)$')
    if count and tonumber(expiry) > tonumber(ARGV[3]) then
      others = others + tonumber(count)
    else
      redis.call('HDEL', KEYS[1], fields[i])
    end
  end
end
if others + tonumber(ARGV[2]) > tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
`;

interface RedisWithConnections {
  chatAcquireConnection(
    key: string,
    node: string,
    count: number,
    now: number,
    expiry: number,
    limit: number,
    keyTtl: number,
  ): Promise<number>;
}

export interface ConnectionRegistryOptions {
  nodeName: string;
  /** Connections one user may hold across the cluster. */
  limit: number;
  /** How long a node's count stands without a heartbeat (the heartbeat runs every third of it). */
  ttlInMs: number;
  /** How long a refusal by the script is remembered for that user (see the top of the file); DEFAULT_AT_CAP_MEMORY_MS when absent, 0: never. */
  atCapMemoryMs?: number;
  /** The clock (Date.now when absent): for tests. */
  now?: () => number;
  onError: (error: unknown, what: string) => void;
}

export class ConnectionRegistry {
  /** user → this node's sockets of that user. */
  private readonly local = new Map<string, number>();
  /** user → until when (ms) this node remembers that the script refused them: at the cap cluster-wide. */
  private readonly atCapUntil = new Map<string, number>();
  private readonly now: () => number;
  private readonly atCapMemoryMs: number;
  private readonly scripted: RedisWithConnections;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly options: ConnectionRegistryOptions,
  ) {
    redis.defineCommand("chatAcquireConnection", { numberOfKeys: 1, lua: ACQUIRE_SCRIPT });
    this.scripted = redis as unknown as RedisWithConnections;
    this.now = options.now ?? Date.now;
    this.atCapMemoryMs = options.atCapMemoryMs ?? DEFAULT_AT_CAP_MEMORY_MS;
  }

  /**
   * True when `acquire(user)` would refuse without asking Redis: this node alone holds the limit,
   * or the script refused the user moments ago (see the top of the file). Synchronous and cheap:
   * callers ask it before any other work on a new connection.
   */
  refusesAtOnce(user: string): boolean {
    if ((this.local.get(user) ?? 0) >= this.options.limit) return true;
    const until = this.atCapUntil.get(user);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.atCapUntil.delete(user);
    return false;
  }

  /** Reserves a connection for `user`: false when they already hold the limit across the cluster. */
  async acquire(user: string): Promise<boolean> {
    if (this.refusesAtOnce(user)) return false;
    const count = (this.local.get(user) ?? 0) + 1;
    this.local.set(user, count);
    const now = this.now();
    let granted: boolean;
    try {
      const { nodeName, limit, ttlInMs } = this.options;
      granted = (await this.scripted.chatAcquireConnection(this.key(user), nodeName, count, now, now + ttlInMs, limit, ttlInMs * 2)) === 1;
    } catch (error) {
      this.options.onError(error, "connection count");
      return true;
    }
    // Replies come in the order Redis ran the scripts: a grant seen after a refusal was decided after it.
    if (granted) this.atCapUntil.delete(user);
    else {
      if (this.atCapMemoryMs > 0) this.atCapUntil.set(user, this.now() + this.atCapMemoryMs);
      this.decrement(user);
      // A connect that ran meanwhile may have written a count that included this one.
      this.write(user);
    }
    return granted;
  }

  /** A connection `acquire` granted has ended. */
  release(user: string): void {
    // The user is one below the cap now (at least on this node's account): let the script decide again.
    this.atCapUntil.delete(user);
    this.decrement(user);
    this.write(user);
  }

  /** Users with sockets here: what the heartbeat refreshes. */
  get localUsers(): number {
    return this.local.size;
  }

  start(): void {
    this.heartbeat = setInterval(() => this.refresh(), Math.max(1, Math.floor(this.options.ttlInMs / 3)));
    this.heartbeat.unref();
  }

  stop(): void {
    clearInterval(this.heartbeat);
  }

  private refresh(): void {
    const now = this.now();
    const expiry = now + this.options.ttlInMs;
    // Users refused once and never seen again: their memories would otherwise stay.
    for (const [user, until] of this.atCapUntil) if (until <= now) this.atCapUntil.delete(user);
    // Separate commands, auto-pipelined by the client: one explicit pipeline cannot span the
    // users' slots on a Redis Cluster.
    const writes: Promise<unknown>[] = [];
    for (const [user, count] of this.local) {
      writes.push(
        this.redis.hset(this.key(user), this.options.nodeName, `${count}|${expiry}`),
        this.redis.pexpire(this.key(user), this.options.ttlInMs * 2),
      );
    }
    Promise.all(writes).catch((error: unknown) => this.options.onError(error, "connection heartbeat"));
  }

  private decrement(user: string): void {
    const count = (this.local.get(user) ?? 0) - 1;
    if (count > 0) this.local.set(user, count);
    else this.local.delete(user);
  }

  /** States this node's current count for `user` (removes its field at zero). */
  private write(user: string): void {
    const count = this.local.get(user) ?? 0;
    const key = this.key(user);
    const done =
      count === 0
        ? this.redis.hdel(key, this.options.nodeName)
        : this.redis.hset(key, this.options.nodeName, `${count}|${this.now() + this.options.ttlInMs}`);
    done.catch((error: unknown) => this.options.onError(error, "connection count"));
  }

  private key(user: string): string {
    return this.keys.userConnections(user);
  }
}
