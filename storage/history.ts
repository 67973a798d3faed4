/**
 * The read path: a room's messages by seq range, from Redis while they are recent (and always
 * while they are not yet flushed) and from Cassandra after. Because acknowledged seqs have no
 * gaps, a range is complete exactly when it holds one message per seq, which tells us when
 * Redis alone can answer.
 */
import type { RedisClient } from "./redis-client.js";
import type { Timeline } from "./cassandra/timeline.js";
import type { RedisKeys } from "./keys.js";
import { decodeMessage, type ChatMessage } from "./message.js";

export interface MessagePage {
  /** Ascending by seq. */
  messages: ChatMessage[];
  /** True when older (for pages) or newer (for catch-up) messages exist beyond this page. */
  more: boolean;
}

export class History {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly timeline: Timeline,
  ) {}

  /** The room's latest acknowledged seq (0 for a room without messages). */
  async latestSeq(room: string): Promise<number> {
    const cached = await this.redis.hget(this.keys.roomMeta(room), "seq");
    if (cached !== null) return Number(cached);
    return (await this.timeline.latestOf(room)).seq;
  }

  /** The newest `limit` messages below `beforeSeq` (or the newest of all). */
  async page(room: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage> {
    const latest = await this.latestSeq(room);
    const top = beforeSeq === undefined ? latest : Math.min(beforeSeq - 1, latest);
    if (top < 1) return { messages: [], more: false };
    const bottom = Math.max(1, top - limit + 1);
    const messages = await this.range(room, bottom, top, () => this.timeline.before(room, top + 1, top - bottom + 1));
    return { messages, more: bottom > 1 };
  }

  /** What a client missed: messages after `afterSeq`, oldest first, at most `limit`. */
  async since(room: string, afterSeq: number, limit: number): Promise<MessagePage & { latest: number }> {
    const latest = await this.latestSeq(room);
    if (afterSeq >= latest) return { messages: [], more: false, latest };
    const bottom = Math.max(1, afterSeq + 1);
    const top = Math.min(latest, afterSeq + limit);
    const messages = await this.range(room, bottom, top, () => this.timeline.after(room, bottom - 1, top - bottom + 1));
    return { messages, more: top < latest, latest };
  }

  /** Messages with bottom <= seq <= top ascending: Redis first, Cassandra for what Redis lacks. */
  private async range(room: string, bottom: number, top: number, fromCassandra: () => Promise<ChatMessage[]>): Promise<ChatMessage[]> {
    const cached = (await this.redis.zrangebyscore(this.keys.roomRecent(room), bottom, top)).map(decodeMessage);
    if (cached.length === top - bottom + 1) return cached;
    const bySeq = new Map<number, ChatMessage>();
    for (const message of await fromCassandra()) bySeq.set(message.seq, message);
    // Redis wins for seqs in both: it has messages the flusher has not written yet.
    for (const message of cached) bySeq.set(message.seq, message);
    return [...bySeq.values()].filter((m) => m.seq >= bottom && m.seq <= top).sort((a, b) => a.seq - b.seq);
  }
}
