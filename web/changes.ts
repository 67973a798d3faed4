/**
 * What the message list shows: the room's messages (the SDK's room state: live changes and
 * catch-up after a reconnect are folded in there) with this user's own changes laid over them
 * until the room's log has them. Those are the edits, deletes and reactions still in the outbox
 * (offline, or waiting for their ack: shown as pending) and the acknowledged ones whose `change`
 * event has not been applied yet (so an own reaction does not flicker off between ack and event).
 */
import { applyChange, type Change, type ChangeKind, type Message, type OutboxOperation } from "../client/index.js";

export type ChangeOperation = Exclude<OutboxOperation, { kind: "send" }>;

/** An own change laid over the room state: still in the outbox (`pending`), or acknowledged and not applied yet. */
export interface OwnChange {
  operation: ChangeOperation;
  pending: boolean;
}

export interface PendingChange {
  kind: ChangeKind;
  emoji?: string;
}

export interface MessageRow {
  /** The message as the user should see it: own changes applied. */
  message: Message;
  mine: boolean;
  /** Own changes to it still waiting in the outbox, in order. */
  pending: PendingChange[];
}

export function isChange(operation: OutboxOperation): operation is ChangeOperation {
  return operation.kind !== "send";
}

/**
 * Each message with the own changes that target it applied in order. Applying one the room
 * state already holds changes nothing (an edit sets the same text, a delete leaves a tombstone,
 * a reaction is added or removed once per user), so an operation sent again after a lost ack
 * is harmless here too.
 */
export function messageRows(messages: readonly Message[], own: readonly OwnChange[], user: string): MessageRow[] {
  const byTarget = new Map<string, OwnChange[]>();
  for (const change of own) byTarget.set(change.operation.id, [...(byTarget.get(change.operation.id) ?? []), change]);
  return messages.map((stored) => {
    let message = stored;
    const pending: PendingChange[] = [];
    for (const { operation, pending: waiting } of byTarget.get(stored.id) ?? []) {
      message = applyChange(message, asChange(operation, message, user));
      if (waiting) pending.push(operation.kind === "react" ? { kind: "react", emoji: operation.emoji } : { kind: operation.kind });
    }
    return { message, mine: stored.from === user, pending };
  });
}

/**
 * When this page first saw each own change: the edited time shown until the server's arrives,
 * the same on every redraw (so a row that did not change is not drawn anew). A few numbers per
 * change the user makes in this page's life.
 */
const firstSeen = new Map<string, number>();

/** The `change` event this operation will become (seq and ts are the server's). */
function asChange(operation: ChangeOperation, target: Message, user: string): Change {
  let ts = firstSeen.get(operation.clientId);
  if (ts === undefined) firstSeen.set(operation.clientId, (ts = Date.now()));
  const change: Change = {
    room: operation.room,
    seq: 0,
    ts,
    by: user,
    clientId: operation.clientId,
    kind: operation.kind,
    target: target.id,
    targetSeq: target.seq,
  };
  if (operation.kind === "edit") change.text = operation.text;
  if (operation.kind === "react") Object.assign(change, { emoji: operation.emoji, on: operation.on });
  return change;
}
