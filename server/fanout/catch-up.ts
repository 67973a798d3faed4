/**
 * Pub/sub is fire-and-forget: while a node's subscription is down (a Redis primary failed over,
 * a Redis restart) the messages published meanwhile never reach it, and its sockets would only
 * notice the gap when the next message arrives, if one ever does. So each node remembers, per
 * room, the highest seq up to which it delivered every entry (not just the highest seq: a
 * message lost in a failover, followed by live ones, would otherwise never be noticed) and,
 * every `intervalInMs`, compares it with the room's latest seq in storage; a room that was
 * behind at two checks in a row (not just a message still on its way) gets the missing entries
 * pushed to its sockets on this node.
 *
 * An entry pushed that way may still arrive live afterwards (it was only late: an overloaded
 * node's subscription lags by more than two checks). Clients de-duplicate by seq
 * (docs/protocol.md), but a node under overload re-sending whole rooms' worth of entries is the
 * last thing it needs: `onDelivered` says whether an entry is new to this node's sockets, and
 * the broadcast drops the ones already delivered.
 */
import type { Server } from "socket.io";
import type { Logger } from "../../common/logger.js";
import type { ChatChange } from "../../storage/change.js";
import type { ChatMessage } from "../../storage/message.js";

export interface CatchUpSource {
  latestSeq(room: string): Promise<number>;
  /** v1.1: seqs number messages and changes; both are pushed, in seq order. */
  since(room: string, afterSeq: number, limit: number): Promise<{ messages: ChatMessage[]; changes?: ChatChange[] }>;
}

/** At most this many messages are pushed per room and check; the rest at the next checks. */
const PUSH_LIMIT = 500;
/** Seqs delivered above a gap that are remembered per room; past it the gap is given up (`giveUpGap`). */
const AHEAD_LIMIT = 2000;

/** Holes below `contiguous` remembered per room once a gap was given up (see `giveUpGap`). */
const GIVEN_UP_LIMIT = 64;

/**
 * What a node delivered in one room: every seq from `first` to `contiguous`, except those in the
 * given-up holes, and the seqs in `ahead`. Seqs below `first` are unknown: they were published
 * before this node's first delivery in the room and may still arrive (pub/sub orders by publish,
 * not by seq), so they are always delivered.
 */
interface RoomProgress {
  first: number;
  contiguous: number;
  ahead: Set<number>;
  /** Inclusive seq ranges below `contiguous` that were never delivered (given up). */
  givenUp: Array<[number, number]>;
}

export class RoomCatchUp {
  /** room → what was delivered to this node's sockets. */
  private readonly delivered = new Map<string, RoomProgress>();
  /** room → the latest seq seen at the previous check while the room was behind. */
  private readonly behind = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly io: Server,
    private readonly source: CatchUpSource,
    private readonly logger: Logger,
    private readonly intervalInMs: number,
  ) {}

  /**
   * Called for every entry about to be delivered to this node's sockets in `room`: true if it
   * is new to them, false if they already have it (the broadcast then drops it).
   */
  onDelivered(room: string, seq: number): boolean {
    const progress = this.delivered.get(room);
    // The first entry a node delivers in a room: what came before reached its sockets through `join`.
    if (!progress) {
      this.delivered.set(room, { first: seq, contiguous: seq, ahead: new Set(), givenUp: [] });
      return true;
    }
    if (seq < progress.first) return true;
    if (seq <= progress.contiguous) return this.fillGivenUp(progress, seq);
    if (seq === progress.contiguous + 1) {
      progress.contiguous = seq;
      while (progress.ahead.delete(progress.contiguous + 1)) progress.contiguous++;
      return true;
    }
    if (progress.ahead.has(seq)) return false;
    progress.ahead.add(seq);
    if (progress.ahead.size > AHEAD_LIMIT) giveUpGap(progress);
    return true;
  }

  /** A seq at or below `contiguous` is new only if it was in a given-up hole; it is delivered once. */
  private fillGivenUp(progress: RoomProgress, seq: number): boolean {
    const index = progress.givenUp.findIndex(([from, to]) => from <= seq && seq <= to);
    if (index < 0) return false;
    const [from, to] = progress.givenUp[index]!;
    const rest: Array<[number, number]> = [];
    if (from < seq) rest.push([from, seq - 1]);
    if (seq < to) rest.push([seq + 1, to]);
    progress.givenUp.splice(index, 1, ...rest);
    return true;
  }

  /** The seq up to which every entry of `room` reached this node's sockets (for tests). */
  deliveredUpTo(room: string): number | undefined {
    return this.delivered.get(room)?.contiguous;
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.intervalInMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One check of every room that has sockets on this node and has seen a message. */
  async check(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const rooms = this.io.of("/").adapter.rooms;
      for (const room of [...this.delivered.keys()]) {
        if (!rooms.has(room)) {
          this.delivered.delete(room);
          this.behind.delete(room);
        }
      }
      await Promise.all([...this.delivered.keys()].map((room) => this.checkRoom(room)));
    } finally {
      this.running = false;
    }
  }

  private async checkRoom(room: string): Promise<void> {
    try {
      const progress = this.delivered.get(room);
      if (!progress) return;
      const delivered = progress.contiguous;
      const latest = await this.source.latestSeq(room);
      const seenBehind = this.behind.get(room);
      if (latest <= delivered) {
        this.behind.delete(room);
        return;
      }
      this.behind.set(room, latest);
      // Behind for the first time: the message may still be on its way. Push only what was
      // already missing at the previous check.
      if (seenBehind === undefined || seenBehind <= delivered) return;
      const { messages, changes = [] } = await this.source.since(room, delivered, Math.min(PUSH_LIMIT, seenBehind - delivered));
      const entries = [...messages.map((entry) => ({ event: "message", entry })), ...changes.map((entry) => ({ event: "change", entry }))]
        .filter(({ entry }) => !progress.ahead.has(entry.seq))
        .sort((a, b) => a.entry.seq - b.entry.seq);
      for (const { event, entry } of entries) {
        this.io.local.to(room).emit(event, entry);
        // The broadcast has recorded it already when the fan-out reports to onDelivered; this is a no-op then.
        this.onDelivered(room, entry.seq);
      }
      this.logger.info(
        { room, from: delivered + 1, pushed: messages.length },
        "pushed messages this node had missed to the room's sockets",
      );
    } catch (error) {
      this.logger.warn({ err: error, room }, "room catch-up check failed; retried at the next check");
    }
  }
}

/**
 * Too many seqs delivered above a gap: the gap is given up (its entries stay in storage for
 * `join { since }`) so a room's memory stays bounded. Its holes are remembered, a bounded
 * number of them, so that an entry of a hole that still arrives live is delivered, not taken
 * for one the sockets already have.
 */
function giveUpGap(progress: RoomProgress): void {
  const seqs = [...progress.ahead].sort((a, b) => a - b);
  let previous = progress.contiguous;
  for (const seq of seqs) {
    if (seq > previous + 1) progress.givenUp.push([previous + 1, seq - 1]);
    previous = seq;
  }
  if (progress.givenUp.length > GIVEN_UP_LIMIT) progress.givenUp.splice(0, progress.givenUp.length - GIVEN_UP_LIMIT);
  progress.contiguous = previous;
  progress.ahead.clear();
}
