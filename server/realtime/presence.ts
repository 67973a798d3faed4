/**
 * Cluster-wide presence per room.
 *
 * Each node keeps, per room, how many of its sockets each user has joined with, and mirrors
 * "user U is here through node N" into a Redis sorted set per room whose scores are expiry
 * times. Nodes refresh their members every heartbeat (a third of the member TTL); a node that
 * dies stops refreshing, so its users drop out of `presence` answers within the TTL instead of
 * staying online forever.
 *
 * Events: `presence { online: true }` when a user's first socket in the cluster joins the room,
 * `{ online: false }` when their last one leaves (or disconnects). For the users of a node that
 * died, the surviving nodes announce `{ online: false }` when the members expire: at each
 * heartbeat a node sweeps the rooms it has members in, and the sweep removes expired members
 * atomically, so exactly one node announces each user (between one TTL and one TTL plus one
 * heartbeat after the death).
 */
import type { RedisClient } from "../../storage/redis-client.js";
import type { RedisKeys } from "../../storage/keys.js";
import type { PresenceChange } from "../chat/ports.js";

/**
 * KEYS: 1 room presence zset.  ARGV: 1 member "<user>|<node>", 2 "<user>|", 3 now ms,
 * 4 expiry ms (0 = remove the member), 5 the zset's own expiry in ms.
 * Returns 1 if another live member of the same user exists (on another node), else 0.
 * Expired members are left for the sweep, which announces them.
 */
const UPDATE_SCRIPT = `
local prefix = ARGV[2]
local others = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[3], '+inf')) do
  if member ~= ARGV[1] and string.sub(member, 1, #prefix) == prefix then
    others = 1
    break
  end
end
if ARGV[4] == '0' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return others
`;

/**
 * KEYS: 1 room presence zset.  ARGV: 1 now ms.
 * Removes the members that expired and returns the users among them with no live member left
 * in the room (no socket on any live node): the users who just went offline. Atomic, so when
 * several nodes sweep the same room, each expired member is announced once.
 */
const SWEEP_SCRIPT = `
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #expired == 0 then return {} end
for _, member in ipairs(expired) do redis.call('ZREM', KEYS[1], member) end
local live = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  live[string.match(member, '^(.*)|[^|]*$')] = true
end
local offline, seen = {}, {}
for _, member in ipairs(expired) do
  local user = string.match(member, '^(.*)|[^|]*$')
  if user and not live[user] and not seen[user] then
    seen[user] = true
    offline[#offline + 1] = user
  end
end
return offline
`;

interface RedisWithPresence {
  chatPresence(key: string, member: string, userPrefix: string, now: number, expiry: number, keyTtl: number): Promise<number>;
  chatPresenceSweep(key: string, now: number): Promise<string[]>;
}

export class Presence {
  /** room → user → number of this node's sockets of that user in the room. */
  private readonly local = new Map<string, Map<string, number>>();
  private readonly scripted: RedisWithPresence;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly nodeName: string,
    /** How long a member stays without a heartbeat; the heartbeat runs every third of it. */
    private readonly memberTtlInMs: number,
  ) {
    redis.defineCommand("chatPresence", { numberOfKeys: 1, lua: UPDATE_SCRIPT });
    redis.defineCommand("chatPresenceSweep", { numberOfKeys: 1, lua: SWEEP_SCRIPT });
    this.scripted = redis as unknown as RedisWithPresence;
  }

  /** Heartbeats, then sweeps: `onOffline` gets the users of dead nodes who went offline. */
  start(onOffline: (change: PresenceChange) => void, onError: (error: unknown) => void): void {
    const beat = async () => {
      await this.refresh();
      for (const change of await this.sweep()) onOffline(change);
    };
    this.heartbeat = setInterval(() => void beat().catch(onError), Math.max(1, Math.floor(this.memberTtlInMs / 3)));
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
    const othersOnline = await this.update(room, user, Date.now() + this.memberTtlInMs);
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
    const expiry = Date.now() + this.memberTtlInMs;
    // Separate commands, not one pipeline: on Redis Cluster the rooms' keys sit in different
    // slots, which one pipeline may not span; auto-pipelining still batches them per node.
    const updates: Promise<unknown>[] = [];
    for (const [room, users] of this.local) {
      for (const user of users.keys()) updates.push(this.redis.zadd(this.key(room), expiry, this.member(user)));
      updates.push(this.redis.pexpire(this.key(room), this.memberTtlInMs * 2));
    }
    await Promise.all(updates);
  }

  /**
   * Removes expired members of the rooms this node has members in and returns who went
   * offline. Rooms without a member here are swept by the nodes that have some; a room with
   * no member anywhere has nobody to tell, and its key expires.
   */
  private async sweep(): Promise<PresenceChange[]> {
    const now = Date.now();
    const rooms = [...this.local.keys()];
    const offline = await Promise.all(rooms.map((room) => this.scripted.chatPresenceSweep(this.key(room), now)));
    return rooms.flatMap((room, i) => offline[i]!.map((user) => ({ room, user, online: false })));
  }

  private async update(room: string, user: string, expiry: number): Promise<boolean> {
    return (
      (await this.scripted.chatPresence(this.key(room), this.member(user), `${user}|`, Date.now(), expiry, this.memberTtlInMs * 2)) === 1
    );
  }

  private key(room: string): string {
    return this.keys.presence(room);
  }

  private member(user: string): string {
    return `${user}|${this.nodeName}`;
  }
}
