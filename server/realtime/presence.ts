/**
 * Cluster-wide presence per room.
 *
 * Each node keeps, per room, how many of its sockets each user has joined with, and mirrors
 * "user U is here through node N" into a Redis sorted set per room whose scores are expiry
 * times. Nodes refresh their members every HEARTBEAT; a node that dies stops refreshing, so
 * its users drop out of `presence` answers within MEMBER_TTL instead of staying online forever.
 *
 * Events: `presence { online: true }` when a user's first socket in the cluster joins the room,
 * `{ online: false }` when their last one leaves (or disconnects). A node that dies emits
 * nothing for its users; they simply expire.
 */
import type { Redis } from "ioredis";

const MEMBER_TTL_IN_MS = 30_000;
const HEARTBEAT_IN_MS = 10_000;

/**
 * KEYS: 1 room presence zset.  ARGV: 1 member "<user>|<node>", 2 "<user>|", 3 now ms,
 * 4 expiry ms (0 = remove the member).
 * Returns 1 if another live member of the same user exists (on another node), else 0.
 */
const UPDATE_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local prefix = ARGV[2]
local others = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if member ~= ARGV[1] and string.sub(member, 1, #prefix) == prefix then
    others = 1
    break
  end
end
if ARGV[4] == '0' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ${MEMBER_TTL_IN_MS * 2})
end
return others
`;

interface RedisWithPresence {
  chatPresence(key: string, member: string, userPrefix: string, now: number, expiry: number): Promise<number>;
}

export type PresenceChange = { room: string; user: string; online: boolean };

export class Presence {
  /** room → user → number of this node's sockets of that user in the room. */
  private readonly local = new Map<string, Map<string, number>>();
  private readonly scripted: RedisWithPresence;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly nodeName: string,
  ) {
    redis.defineCommand("chatPresence", { numberOfKeys: 1, lua: UPDATE_SCRIPT });
    this.scripted = redis as unknown as RedisWithPresence;
  }

  start(onError: (error: unknown) => void): void {
    this.heartbeat = setInterval(() => this.refresh().catch(onError), HEARTBEAT_IN_MS);
    this.heartbeat.unref();
  }

  stop(): void {
    clearInterval(this.heartbeat);
  }

  /** A socket of `user` joined `room`; returns the change to announce, if this is the user's first socket in the cluster. */
  async joined(room: string, user: string): Promise<PresenceChange | undefined> {
    const users = this.local.get(room) ?? new Map<string, number>();
    this.local.set(room, users);
    const count = (users.get(user) ?? 0) + 1;
    users.set(user, count);
    if (count > 1) return undefined;
    const othersOnline = await this.update(room, user, Date.now() + MEMBER_TTL_IN_MS);
    return othersOnline ? undefined : { room, user, online: true };
  }

  /** A socket of `user` left `room` (or disconnected); returns the change if it was the user's last socket in the cluster. */
  async left(room: string, user: string): Promise<PresenceChange | undefined> {
    const users = this.local.get(room);
    const count = (users?.get(user) ?? 0) - 1;
    if (!users || count < 0) return undefined;
    if (count > 0) {
      users.set(user, count);
      return undefined;
    }
    users.delete(user);
    if (users.size === 0) this.local.delete(room);
    const othersOnline = await this.update(room, user, 0);
    return othersOnline ? undefined : { room, user, online: false };
  }

  /** Users online in the room on any live node. */
  async online(room: string): Promise<string[]> {
    const members = await this.redis.zrangebyscore(this.key(room), Date.now(), "+inf");
    return [...new Set(members.map((member) => member.slice(0, member.lastIndexOf("|"))))].sort();
  }

  /** Re-announces every local member with a fresh expiry. */
  private async refresh(): Promise<void> {
    const expiry = Date.now() + MEMBER_TTL_IN_MS;
    const pipeline = this.redis.pipeline();
    for (const [room, users] of this.local) {
      for (const user of users.keys()) pipeline.zadd(this.key(room), expiry, this.member(user));
      pipeline.pexpire(this.key(room), MEMBER_TTL_IN_MS * 2);
    }
    await pipeline.exec();
  }

  private async update(room: string, user: string, expiry: number): Promise<boolean> {
    return (await this.scripted.chatPresence(this.key(room), this.member(user), `${user}|`, Date.now(), expiry)) === 1;
  }

  private key(room: string): string {
    return `${this.keyPrefix}presence:${room}`;
  }

  private member(user: string): string {
    return `${user}|${this.nodeName}`;
  }
}
