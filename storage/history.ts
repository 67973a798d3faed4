/**
 * The read path: a room's log by seq range, from Redis while it is recent (and always while it
 * is not yet flushed) and from Cassandra after. Because acknowledged seqs have no gaps over the
 * log (messages and changes), a range is complete in Redis exactly when its recent messages and
 * recent changes together hold one entry per seq, which tells us when Redis alone can answer.
 *
 * History shows messages in their current state (current-state.ts folds the changes in);
 * `join { since }` returns the log itself: messages as sent (tombstones once deleted) and changes.
 */
import type { RedisClient } from "./redis-client.js";
import { decodeChange, decodeRecentMessage, isChange, type ChatChange, type MessageView } from "./change.js";
import { ChangeKeys } from "./change-keys.js";
import type { RoomLog } from "./cassandra/room-log.js";
import type { StoredMessage, Timeline } from "./cassandra/timeline.js";
import { CurrentState } from "./current-state.js";
import type { RedisKeys } from "./keys.js";
import type { ChatMessage } from "./message.js";

export interface MessagePage {
  /** Ascending by seq. */
  messages: MessageView[];
  /** True when older (for pages) or newer (for catch-up) messages exist beyond this page. */
  more: boolean;
}

/** What a client missed: the log after a seq. */
export interface LogPage {
  /** Ascending by seq: messages as sent, or tombstones. */
  messages: ChatMessage[];
  /** Ascending by seq. */
  changes: ChatChange[];
  /** True when newer entries exist beyond this page. */
  more: boolean;
}

/** `unread` is exact up to this many messages. */
export const UNREAD_CAP = 1000;

export class History {
  private readonly changeKeys: ChangeKeys;
  private readonly state: CurrentState;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly timeline: Timeline,
    private readonly log: RoomLog,
    /** The room's latest stored seq when Redis has none. */
    private readonly stored: { latestOf(room: string): Promise<{ seq: number; ts: number }> },
  ) {
    this.changeKeys = new ChangeKeys(keys);
    this.state = new CurrentState(redis, this.changeKeys, log);
  }

  /** The room's latest acknowledged seq over its log (0 for an empty room). */
  async latestSeq(room: string): Promise<number> {
    const cached = await this.redis.hget(this.keys.roomMeta(room), "seq");
    if (cached !== null) return Number(cached);
    return (await this.stored.latestOf(room)).seq;
  }

  /** The newest `limit` messages below `beforeSeq` (or the newest of all), in their current state. */
  async page(room: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage> {
    const latest = await this.latestSeq(room);
    const top = beforeSeq === undefined ? latest : Math.min(beforeSeq - 1, latest);
    if (top < 1) return { messages: [], more: false };
    const recent = (await this.redis.zrevrangebyscore(this.keys.roomRecent(room), top, "-inf", "LIMIT", 0, limit))
      .map(decodeRecentMessage)
      .reverse();
    // The page reaches down to its oldest message, or to seq 1 when Redis has fewer than `limit`.
    const low = recent.length === limit ? recent[0]!.message.seq : 1;
    let page: { message: StoredMessage; changed: boolean; fromRedis: boolean }[];
    if (await this.redisHolds(room, low, top)) {
      page = recent.map(({ message, changed }) => ({ message, changed, fromRedis: true }));
    } else {
      const bySeq = new Map<number, { message: StoredMessage; changed: boolean; fromRedis: boolean }>();
      for (const message of await this.timeline.before(room, top + 1, limit))
        bySeq.set(message.seq, { message, changed: true, fromRedis: false });
      // Redis wins for seqs in both: it has messages the flusher has not written yet.
      for (const { message, changed } of recent) bySeq.set(message.seq, { message, changed, fromRedis: true });
      page = [...bySeq.values()].sort((a, b) => a.message.seq - b.message.seq).slice(-limit);
    }
    const messages = await this.state.fold(room, page);
    return { messages, more: messages.length > 0 && messages[0]!.seq > 1 };
  }

  /** The log after `afterSeq`, oldest first, at most `limit` entries; `latest` is the room's latest seq. */
  async since(room: string, afterSeq: number, limit: number): Promise<LogPage & { latest: number }> {
    const latest = await this.latestSeq(room);
    if (afterSeq >= latest) return { messages: [], changes: [], more: false, latest };
    const bottom = Math.max(1, afterSeq + 1);
    const top = Math.min(latest, afterSeq + limit);
    const [messagesJson, changesJson] = await Promise.all([
      this.redis.zrangebyscore(this.keys.roomRecent(room), bottom, top),
      this.redis.zrangebyscore(this.changeKeys.roomChanges(room), bottom, top),
    ]);
    const messages = new Map<number, ChatMessage>(messagesJson.map((json) => decodeRecentMessage(json).message).map((m) => [m.seq, m]));
    const changes = new Map<number, ChatChange>(changesJson.map((json) => decodeChange(json).change).map((c) => [c.seq, c]));
    if (messages.size + changes.size < top - bottom + 1) {
      for (const { entry } of await this.log.entries(room, bottom - 1, top)) {
        if (messages.has(entry.seq) || changes.has(entry.seq)) continue;
        if (isChange(entry)) changes.set(entry.seq, entry);
        else messages.set(entry.seq, entry);
      }
    }
    if (messages.size + changes.size < top - bottom + 1) {
      // Messages stored before the log was: the Timeline has them.
      for (const message of await this.timeline.after(room, bottom - 1, top - bottom + 1)) {
        if (message.seq > top || messages.has(message.seq) || changes.has(message.seq)) continue;
        const { reacted: _reacted, editedAt: _editedAt, reactions: _reactions, ...asSent } = message;
        messages.set(message.seq, asSent);
      }
    }
    const ascending = <T extends { seq: number }>(values: Iterable<T>) => [...values].sort((a, b) => a.seq - b.seq);
    return { messages: ascending(messages.values()), changes: ascending(changes.values()), more: top < latest, latest };
  }

  /** Messages (not changes) with readSeq < seq <= lastSeq, exact up to UNREAD_CAP. */
  async unread(room: string, readSeq: number, lastSeq: number): Promise<number> {
    if (lastSeq <= readSeq) return 0;
    const [recent, changes] = await Promise.all([
      this.redis.zrangebyscore(this.keys.roomRecent(room), `(${readSeq}`, lastSeq, "WITHSCORES"),
      this.redis.zcount(this.changeKeys.roomChanges(room), `(${readSeq}`, lastSeq),
    ]);
    const recentSeqs = new Set<number>();
    for (let i = 1; i < recent.length; i += 2) recentSeqs.add(Number(recent[i]));
    if (recentSeqs.size + changes === lastSeq - readSeq) return Math.min(recentSeqs.size, UNREAD_CAP);
    const stored = await this.log.countMessages(room, readSeq, lastSeq, UNREAD_CAP);
    for (const seq of recentSeqs) stored.add(seq);
    return Math.min(stored.size, UNREAD_CAP);
  }

  /** True when Redis holds every log entry with low <= seq <= top. */
  private async redisHolds(room: string, low: number, top: number): Promise<boolean> {
    const [messages, changes] = await Promise.all([
      this.redis.zcount(this.keys.roomRecent(room), low, top),
      this.redis.zcount(this.changeKeys.roomChanges(room), low, top),
    ]);
    return messages + changes === top - low + 1;
  }
}
