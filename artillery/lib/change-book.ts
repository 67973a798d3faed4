/**
 * One virtual user's message changes (docs/protocol.md v1.1 "Messages change"): which messages
 * it may edit, delete or react to, and what each acknowledged change must have left in the
 * room's history, checked by `verifyView` against the server's `history` at the user's end.
 *
 * Why a user's own changes can be checked alone: a message's text and deletion are decided by
 * its author only (no moderators in the load tests), and a user's reaction with an emoji by
 * that user only; a user sends its changes one at a time, so its last acknowledged change of
 * each is the state history must show. A reaction to a message its author deletes would be
 * refused (`NOT_FOUND`) and wiped, so the author decides at send time which messages it will
 * delete (`meta.deletable`), and nobody reacts to those.
 */
export interface ChangeShares {
  /** Chance per change step (0..1) of editing one of the user's own messages. */
  editShare: number;
  /** Fraction of sends (0..1) marked deletable, each deleted at a later change step. */
  deleteShare: number;
  /** Chance per change step (0..1) of reacting to (or un-reacting from) another user's recent message. */
  reactShare: number;
}

export interface TargetMessage {
  room: string;
  id: string;
  seq: number;
}

/** What history must show for a message this user changed. */
export interface Expectation extends TargetMessage {
  /** The text of the user's last acknowledged edit (its own message). */
  text: string | undefined;
  /** The user deleted it (its own message). */
  deleted: boolean;
  /** emoji → whether the user's last acknowledged reaction with it was `on`. */
  reactions: Map<string, boolean>;
}

export type PlannedChange =
  | { kind: "edit"; target: TargetMessage; text: string }
  | { kind: "delete"; target: TargetMessage }
  | { kind: "react"; target: TargetMessage; emoji: string; on: boolean };

export const REACTION_EMOJI = ["👍", "🎉", "❤️", "😂", "👀"] as const;
/** Reactions go to one of the last few messages of others this user received live. */
const RECENT_OTHERS = 20;
/** docs/protocol.md: a reaction's `users` lists the first 25 reactors. */
const REACTION_USERS_SHOWN = 25;

interface OwnMessage extends TargetMessage {
  deletable: boolean;
}

export class ChangeBook {
  /** Own messages not deleted, in send order. */
  private readonly own: OwnMessage[] = [];
  private readonly recentOthers: TargetMessage[] = [];
  private readonly expectations = new Map<string, Expectation>();
  private edits = 0;

  constructor(
    private readonly shares: ChangeShares,
    private readonly random: () => number = Math.random,
  ) {}

  /** Decided before a send: will this message be deleted later? */
  nextSendDeletable(): boolean {
    return this.shares.deleteShare > 0 && this.random() < this.shares.deleteShare;
  }

  ownSent(message: TargetMessage, deletable: boolean): void {
    this.own.push({ ...message, deletable });
  }

  /** A live message of another user; deletable ones are never reacted to. */
  othersReceived(message: TargetMessage, deletable: boolean): void {
    if (deletable || this.shares.reactShare === 0) return;
    this.recentOthers.push(message);
    if (this.recentOthers.length > RECENT_OTHERS) this.recentOthers.shift();
  }

  /** The changes of one step: maybe an edit, the deletion of a deletable message sent earlier, maybe a reaction. */
  plan(): PlannedChange[] {
    const changes: PlannedChange[] = [];
    if (this.own.length > 0 && this.random() < this.shares.editShare) {
      const target = this.own[Math.floor(this.random() * this.own.length)]!;
      this.edits += 1;
      changes.push({ kind: "edit", target: strip(target), text: `${target.id.slice(-6)} edited #${this.edits}` });
    }
    // Not the message just sent: a deletable one lives for at least one step, and may be edited first.
    const deletable = this.own.findIndex((message, i) => message.deletable && i < this.own.length - 1);
    if (deletable >= 0) changes.push({ kind: "delete", target: strip(this.own[deletable]!) });
    if (this.recentOthers.length > 0 && this.random() < this.shares.reactShare) {
      const target = this.recentOthers[Math.floor(this.random() * this.recentOthers.length)]!;
      const emoji = REACTION_EMOJI[Math.floor(this.random() * REACTION_EMOJI.length)]!;
      // Toggles: a second reaction with the same emoji takes it back, so removals are exercised too.
      const on = !(this.expectations.get(target.id)?.reactions.get(emoji) ?? false);
      changes.push({ kind: "react", target, emoji, on });
    }
    return changes;
  }

  /** The server acknowledged the change (not as a duplicate of another). */
  acknowledged(change: PlannedChange): void {
    const expectation = this.expectationOf(change.target);
    switch (change.kind) {
      case "edit":
        expectation.text = change.text;
        break;
      case "delete": {
        expectation.deleted = true;
        const i = this.own.findIndex((message) => message.id === change.target.id);
        if (i >= 0) this.own.splice(i, 1);
        break;
      }
      case "react":
        expectation.reactions.set(change.emoji, change.on);
        break;
    }
  }

  /** Every message this user changed, with what history must show. */
  expected(): Expectation[] {
    return [...this.expectations.values()];
  }

  private expectationOf(target: TargetMessage): Expectation {
    let expectation = this.expectations.get(target.id);
    if (!expectation) {
      expectation = { ...strip(target), text: undefined, deleted: false, reactions: new Map() };
      this.expectations.set(target.id, expectation);
    }
    return expectation;
  }
}

function strip({ room, id, seq }: TargetMessage): TargetMessage {
  return { room, id, seq };
}

export interface ReactionSummary {
  emoji: string;
  count: number;
  /** The first 25 reactors. */
  users: string[];
}

/** The fields of a `history` message the check reads (docs/protocol.md: messages in their current state). */
export interface MessageState {
  id: string;
  text: string;
  deleted?: boolean;
  editedAt?: number;
  reactions?: ReactionSummary[];
}

export interface Verdict {
  /** Acknowledged changes whose result history shows (an edited message's final text counts once). */
  verified: number;
  /** Acknowledged changes whose result history does not show: "changes lost". */
  lost: string[];
  /** Reactions history cannot confirm: more than 25 reactors with that emoji, this user not among those listed. */
  unverifiable: number;
}

/** Compares what a user's acknowledged changes must have left with the message as history shows it (undefined: missing). */
export function verifyView(expectation: Expectation, view: MessageState | undefined, userId: string): Verdict {
  const verdict: Verdict = { verified: 0, lost: [], unverifiable: 0 };
  const check = (ok: boolean, what: string) => (ok ? (verdict.verified += 1) : verdict.lost.push(`${expectation.id}: ${what}`));
  if (!view) {
    check(false, "not in the room's history");
    return verdict;
  }
  if (expectation.deleted) {
    check(view.deleted === true && view.text === "", "deleted, but history shows no tombstone");
    // A tombstone has no reactions: nothing more to compare.
    return verdict;
  }
  if (expectation.text !== undefined)
    check(view.text === expectation.text && typeof view.editedAt === "number", "edited, but history shows another text");
  for (const [emoji, on] of expectation.reactions) {
    const summary = view.reactions?.find((reaction) => reaction.emoji === emoji);
    const listed = summary?.users.includes(userId) ?? false;
    const complete = !summary || summary.count <= REACTION_USERS_SHOWN;
    if (listed === on && (listed || complete)) check(true, "");
    else if (!listed && !complete) verdict.unverifiable += 1;
    else check(false, on ? `reacted ${emoji}, but history does not list the user` : `took back ${emoji}, but history still lists the user`);
  }
  return verdict;
}

/** Reads the newest `limit` messages of a room below `beforeSeq` (the `history` event), ascending by seq. */
export type HistoryReader = (room: string, beforeSeq: number) => Promise<(MessageState & { seq: number })[]>;

/**
 * Checks every expectation against the rooms' history, reading from each room's highest
 * changed seq downwards a page at a time, so messages changed close together share a read.
 */
export async function verifyAgainstHistory(expectations: readonly Expectation[], read: HistoryReader, userId: string): Promise<Verdict> {
  const total: Verdict = { verified: 0, lost: [], unverifiable: 0 };
  const byRoom = new Map<string, Expectation[]>();
  for (const expectation of expectations) byRoom.set(expectation.room, [...(byRoom.get(expectation.room) ?? []), expectation]);
  for (const [room, pending] of byRoom) {
    pending.sort((a, b) => b.seq - a.seq);
    while (pending.length > 0) {
      const page = await read(room, pending[0]!.seq + 1);
      const views = new Map(page.map((message) => [message.id, message]));
      // The page covers every seq from its oldest message up; an empty page covers the one asked for.
      const lowest = page[0]?.seq ?? pending[0]!.seq;
      while (pending.length > 0 && pending[0]!.seq >= lowest) {
        const expectation = pending.shift()!;
        const verdict = verifyView(expectation, views.get(expectation.id), userId);
        total.verified += verdict.verified;
        total.lost.push(...verdict.lost);
        total.unverifiable += verdict.unverifiable;
      }
    }
  }
  return total;
}
