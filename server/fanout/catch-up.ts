/**
 * Pub/sub is fire-and-forget: while a node's subscription is down (a Redis primary failed over,
 * a Redis restart) the messages published meanwhile never reach it, and its sockets would only
 * notice the gap when the next message arrives, if one ever does. So each node remembers, per
 * room, the highest seq up to which it delivered every entry (not just the highest seq: a
 * message lost in a failover, followed by live ones, would otherwise never be noticed) and,
 * every `intervalInMs`, compares it with the room's latest seq in storage; a room that was
 * behind at two checks in a row (not just a message still on its way) gets the missing entries
 * pushed to its sockets on this node. Clients de-duplicate by seq (docs/protocol.md), so an
 * entry that also arrives live is harmless.
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
/**
 * Seqs delivered above a gap that are remembered per room. Past it the gap is given up
 * (its entries stay in storage for `join { since }`) so a room's memory stays bounded.
 */
const AHEAD_LIMIT = 2000;

/** What a node delivered in one room: every seq up to `contiguous`, and the seqs in `ahead`. */
interface RoomProgress {
  contiguous: number;
  ahead: Set<number>;
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

  /** Called for every message delivered to this node's sockets in `room`. */
  onDelivered(room: string, seq: number): void {
    const progress = this.delivered.get(room);
    // The first entry a node delivers in a room: what came before reached its sockets through `join`.
    if (!progress) {
      this.delivered.set(room, { contiguous: seq, ahead: new Set() });
      return;
    }
    if (seq <= progress.contiguous) return;
    if (seq === progress.contiguous + 1) {
      progress.contiguous = seq;
      while (progress.ahead.delete(progress.contiguous + 1)) progress.contiguous++;
      return;
    }
    progress.ahead.add(seq);
    if (progress.ahead.size > AHEAD_LIMIT) {
      progress.contiguous = Math.max(...progress.ahead);
      progress.ahead.clear();
    }
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
