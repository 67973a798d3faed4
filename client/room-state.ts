/**
 * One room's state in the client: its log applied in seq order, exactly once.
 *
 * A room's log numbers every entry, a message or a change to an earlier one, 1, 2, 3, ...
 * without gaps (docs/protocol.md, v1.1). `lastSeq` is the highest seq up to which every entry has
 * been applied. An entry at or below it is a duplicate (at-least-once delivery, a rejoin that
 * overlaps live events); an entry above lastSeq + 1 waits in `ahead` until the gap below it is
 * filled, so the message model never sees a change before the message it changes.
 *
 * `messages` is the read model: ascending by seq, each message in its current state (edits,
 * tombstones, reactions folded in), older pages from `history` included.
 */
import type { Change, Message, Reaction } from "./protocol.js";

export type LogEntry = { seq: number; message: Message; change?: undefined } | { seq: number; change: Change; message?: undefined };

export type Applied = { message: Message; change?: Change };

export class RoomState {
  /** Every log entry up to here has been applied; undefined until the first join answered. */
  lastSeq: number | undefined;
  /** The read model, ascending by seq. */
  readonly messages: Message[] = [];
  private readonly ahead = new Map<number, LogEntry>();
  /** The highest seq the log is known to reach (an entry seen, or the ack of this client's own send). */
  private knownEnd = 0;

  constructor(
    readonly room: string,
    /** Called once per applied entry, in seq order: the new or changed message (and the change). */
    private readonly onApplied: (applied: Applied) => void = () => undefined,
  ) {}

  /** Entries are known above what has been applied: waiting above a hole, or not arrived at all. */
  get hasGap(): boolean {
    return this.ahead.size > 0 || (this.lastSeq !== undefined && this.knownEnd > this.lastSeq);
  }

  /**
   * The log reaches at least `seq` (this client's own send was acknowledged with it). Should
   * its live event never come (a fan-out lost while a node or Redis restarts), the gap fill
   * fetches it; nothing else would tell a quiet room that it missed its last message.
   */
  expect(seq: number): void {
    this.knownEnd = Math.max(this.knownEnd, seq);
  }

  /**
   * The first join's answer: the log is complete from `seq` on. Entries that arrived live
   * before it (the server joins the room before it reads the seq) are applied when above it
   * and kept in the model when at or below it.
   */
  start(seq: number): void {
    if (this.lastSeq !== undefined) return;
    this.lastSeq = seq;
    for (const [entrySeq, entry] of this.ahead) {
      if (entrySeq > seq) continue;
      this.ahead.delete(entrySeq);
      if (entry.message) this.addOlder([entry.message]);
    }
    this.drain();
  }

  /** A live or fetched entry: applied now, ignored as a duplicate, or kept until the gap below it fills. */
  add(entry: LogEntry): "applied" | "duplicate" | "ahead" {
    this.knownEnd = Math.max(this.knownEnd, entry.seq);
    if (this.lastSeq !== undefined && entry.seq <= this.lastSeq) return "duplicate";
    if (this.lastSeq === undefined || entry.seq > this.lastSeq + 1) {
      if (!this.ahead.has(entry.seq)) this.ahead.set(entry.seq, entry);
      return "ahead";
    }
    this.apply(entry);
    this.drain();
    return "applied";
  }

  /**
   * A hole the server cannot fill (it answered `more: false` and the entries above the hole
   * are still waiting): skip to the next waiting entry rather than stall the room for ever.
   * The protocol promises no such hole among acknowledged entries; this is a safety net.
   */
  skipHole(): void {
    if (this.lastSeq === undefined) return;
    this.lastSeq = this.ahead.size > 0 ? Math.min(...this.ahead.keys()) - 1 : Math.max(this.lastSeq, this.knownEnd);
    this.drain();
  }

  /** Older messages (a `history` page, in their current state): added where missing, never re-applied. */
  addOlder(messages: readonly Message[]): void {
    for (const message of messages) {
      const index = this.indexOf(message.seq);
      if (this.messages[index]?.seq !== message.seq) this.messages.splice(index, 0, message);
    }
  }

  /** The oldest message this client holds, for paging further back. */
  get oldestSeq(): number | undefined {
    return this.messages[0]?.seq;
  }

  private drain(): void {
    for (let next = this.ahead.get(this.lastSeq! + 1); next; next = this.ahead.get(this.lastSeq! + 1)) {
      this.ahead.delete(next.seq);
      this.apply(next);
    }
  }

  private apply(entry: LogEntry): void {
    this.lastSeq = entry.seq;
    if (entry.message) {
      this.addOlder([entry.message]);
      this.onApplied({ message: entry.message });
      return;
    }
    const change = entry.change;
    const index = this.indexOf(change.targetSeq);
    const target = this.messages[index];
    // A change to a message older than this client's window changes nothing it shows.
    if (!target || target.seq !== change.targetSeq || target.id !== change.target) return;
    const changed = applyChange(target, change);
    this.messages[index] = changed;
    this.onApplied({ message: changed, change });
  }

  /** Where a message of `seq` is or would go (binary search). */
  private indexOf(seq: number): number {
    let low = 0;
    let high = this.messages.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.messages[middle]!.seq < seq) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** A message after a change (a new object, so a UI can compare by identity). */
export function applyChange(message: Message, change: Change): Message {
  switch (change.kind) {
    case "edit":
      return message.deleted ? message : { ...message, text: change.text ?? message.text, editedAt: change.ts };
    case "delete": {
      const { meta: _meta, reactions: _reactions, ...rest } = message;
      return { ...rest, text: "", deleted: true };
    }
    case "react":
      return change.emoji === undefined
        ? message
        : { ...message, reactions: react(message.reactions ?? [], change.emoji, change.by, change.on !== false) };
  }
}

/**
 * Reactions after one user's reaction is added or removed. Adding twice or removing an absent
 * one changes nothing. `users` may be a partial list (the server sends the first 25), so when
 * a user not listed removes a reaction whose count is above the listed users, the count drops.
 */
function react(reactions: readonly Reaction[], emoji: string, user: string, on: boolean): Reaction[] {
  const existing = reactions.find((reaction) => reaction.emoji === emoji);
  const listed = existing?.users.includes(user) ?? false;
  if (on) {
    if (listed) return [...reactions];
    if (!existing) return [...reactions, { emoji, count: 1, users: [user] }];
    return reactions.map((reaction) =>
      reaction === existing ? { emoji, count: reaction.count + 1, users: [...reaction.users, user] } : reaction,
    );
  }
  if (!existing || (!listed && existing.count <= existing.users.length)) return [...reactions];
  const updated = { emoji, count: existing.count - 1, users: existing.users.filter((name) => name !== user) };
  return updated.count > 0
    ? reactions.map((reaction) => (reaction === existing ? updated : reaction))
    : reactions.filter((reaction) => reaction !== existing);
}
