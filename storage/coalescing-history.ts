/**
 * Reads of one room's history, coalesced: in a reconnect storm every client of a room sends
 * `join { since }` at once, and without this each would read Redis and Cassandra on its own.
 *
 * Per room, the first request opens a short window; every `since`/`latestSeq` request of that
 * room arriving in it is answered from one read, started when the window closes (never before a
 * request it serves arrived: a read started earlier could miss a message acknowledged just before
 * the client's socket joined the room). One read per room is in flight at a time; requests that
 * arrive meanwhile wait for the next window. Requests whose ranges are far apart (a client back
 * after a week and one back after a second) are served by separate reads, so no read spans more
 * than `maxSpan` seqs. Reads of all rooms together are bounded by `maxConcurrentReads`, so a
 * storm over many rooms queues here instead of at Cassandra.
 */
import type { History, LogPage, MessagePage } from "./history.js";

/** What the domain reads (server/chat/ports.ts MessageHistory), as History provides it. */
export type MessageHistory = Pick<History, "latestSeq" | "page" | "since"> & Partial<Pick<History, "unread">>;

export interface CoalescingOptions {
  windowInMs: number;
  maxConcurrentReads: number;
  /** The widest seq range one read covers (requests further apart get their own reads). */
  maxSpan?: number;
  /** Called for every read of the wrapped history (what reaches storage) and every request served. */
  onStorageRead?: (kind: "since" | "latest" | "page") => void;
  onRequest?: (kind: "since" | "latest" | "page") => void;
}

type SinceAnswer = LogPage & { latest: number };

interface Waiter {
  /** undefined: only the latest seq is wanted. */
  afterSeq: number | undefined;
  limit: number;
  resolve(answer: SinceAnswer): void;
  reject(error: unknown): void;
}

interface RoomQueue {
  waiting: Waiter[];
  timer: NodeJS.Timeout | undefined;
  reading: boolean;
}

/** At most `limit` tasks at once; the rest wait in order. */
export class ConcurrencyLimit {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}

export class CoalescingHistory implements MessageHistory {
  private readonly rooms = new Map<string, RoomQueue>();
  private readonly pages = new Map<string, Promise<MessagePage>>();
  private readonly limit: ConcurrencyLimit;
  private readonly maxSpan: number;

  constructor(
    private readonly inner: MessageHistory,
    private readonly options: CoalescingOptions,
  ) {
    this.limit = new ConcurrencyLimit(options.maxConcurrentReads);
    this.maxSpan = options.maxSpan ?? 1000;
  }

  /** v1.1 unread counts (messages, not changes): not coalesced, they are read per page of the user's rooms. */
  unread(room: string, readSeq: number, lastSeq: number): Promise<number> {
    return this.inner.unread?.(room, readSeq, lastSeq) ?? Promise.resolve(Math.max(0, lastSeq - readSeq));
  }

  async latestSeq(room: string): Promise<number> {
    this.options.onRequest?.("latest");
    return (await this.enqueue(room, undefined, 0)).latest;
  }

  since(room: string, afterSeq: number, limit: number): Promise<SinceAnswer> {
    this.options.onRequest?.("since");
    return this.enqueue(room, afterSeq, limit);
  }

  /** Older pages are read on demand, not in storms: identical concurrent requests share one read. */
  page(room: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage> {
    this.options.onRequest?.("page");
    const key = JSON.stringify([room, beforeSeq ?? null, limit]);
    let read = this.pages.get(key);
    if (!read) {
      read = this.limit
        .run(() => (this.options.onStorageRead?.("page"), this.inner.page(room, beforeSeq, limit)))
        .finally(() => this.pages.delete(key));
      this.pages.set(key, read);
    }
    return read;
  }

  private enqueue(room: string, afterSeq: number | undefined, limit: number): Promise<SinceAnswer> {
    let queue = this.rooms.get(room);
    if (!queue) {
      queue = { waiting: [], timer: undefined, reading: false };
      this.rooms.set(room, queue);
    }
    const answer = new Promise<SinceAnswer>((resolve, reject) => queue.waiting.push({ afterSeq, limit, resolve, reject }));
    this.schedule(room, queue);
    return answer;
  }

  private schedule(room: string, queue: RoomQueue): void {
    if (queue.timer || queue.reading || queue.waiting.length === 0) return;
    queue.timer = setTimeout(() => {
      queue.timer = undefined;
      void this.read(room, queue);
    }, this.options.windowInMs);
  }

  private async read(room: string, queue: RoomQueue): Promise<void> {
    const batch = queue.waiting;
    queue.waiting = [];
    queue.reading = true;
    try {
      await Promise.all(this.groups(batch).map((group) => this.readGroup(room, group)));
    } finally {
      queue.reading = false;
      if (queue.waiting.length > 0) this.schedule(room, queue);
      else this.rooms.delete(room);
    }
  }

  /** Waiters by afterSeq; a group's read covers its lowest afterSeq up to the highest seq any member needs, at most maxSpan. */
  private groups(batch: Waiter[]): Waiter[][] {
    const since = batch.filter((waiter) => waiter.afterSeq !== undefined).sort((a, b) => a.afterSeq! - b.afterSeq!);
    const latestOnly = batch.filter((waiter) => waiter.afterSeq === undefined);
    const groups: Waiter[][] = [];
    for (const waiter of since) {
      const group = groups.at(-1);
      if (group && waiter.afterSeq! + waiter.limit - group[0]!.afterSeq! <= this.maxSpan) group.push(waiter);
      else groups.push([waiter]);
    }
    // Any read answers the latest seq as well.
    if (groups.length > 0) groups[0]!.push(...latestOnly);
    else if (latestOnly.length > 0) groups.push(latestOnly);
    return groups;
  }

  private async readGroup(room: string, group: Waiter[]): Promise<void> {
    const ranged = group.filter((waiter) => waiter.afterSeq !== undefined);
    try {
      if (ranged.length === 0) {
        this.options.onStorageRead?.("latest");
        const latest = await this.limit.run(() => this.inner.latestSeq(room));
        for (const waiter of group) waiter.resolve({ messages: [], changes: [], more: false, latest });
        return;
      }
      const bottom = ranged[0]!.afterSeq!;
      const span = Math.max(...ranged.map((waiter) => waiter.afterSeq! + waiter.limit)) - bottom;
      this.options.onStorageRead?.("since");
      const read = await this.limit.run(() => this.inner.since(room, bottom, span));
      for (const waiter of group) {
        if (waiter.afterSeq === undefined) {
          waiter.resolve({ messages: [], changes: [], more: false, latest: read.latest });
          continue;
        }
        const top = Math.min(read.latest, waiter.afterSeq + waiter.limit);
        // The log's seqs number messages and changes alike: each waiter gets its own seq range of both.
        const inRange = (entry: { seq: number }) => entry.seq > waiter.afterSeq! && entry.seq <= top;
        waiter.resolve({
          messages: read.messages.filter(inRange),
          changes: read.changes.filter(inRange),
          more: top < read.latest,
          latest: read.latest,
        });
      }
    } catch (error) {
      for (const waiter of group) waiter.reject(error);
    }
  }
}
