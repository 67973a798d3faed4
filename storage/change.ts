/**
 * Changes to a message (docs/protocol.md v1.1 "Messages change"): the `Change` entry of a room's log
 * as clients see it and as it travels through the write buffer to the flusher, beside the
 * messages of storage/message.ts. A room's log is its messages and its changes, numbered by one
 * seq; a stream entry's JSON is a change exactly when it has a `kind`.
 */
import type { Change, ChangeKind } from "../client/protocol.js";
import { decodeMessage, type ChatMessage } from "./message.js";

// The change's wire shape is stated once, in the SDK's client/protocol.ts, which imports nothing
// so that it ships to browsers. The server takes it from there as a type only: erased at compile
// time, nothing of the SDK runs here, and nothing of the server reaches the SDK.
export type { ChangeKind };
export type ChatChange = Change;

/** Every kind, once: a kind added to ChangeKind fails to compile here until it is listed. */
const EVERY_KIND: Record<ChangeKind, true> = { edit: true, delete: true, react: true };
export const CHANGE_KINDS = Object.keys(EVERY_KIND) as readonly ChangeKind[];

/** What a change has to say; the write buffer adds seq and ts atomically. */
export type NewChange = Omit<ChatChange, "seq" | "ts">;

/** The acknowledgement of a change, also what is replayed for a duplicate clientId. */
export interface ChangeReceipt {
  seq: number;
  ts: number;
}

/** One entry of a room's log. */
export type LogEntry = ChatMessage | ChatChange;

export function isChange(entry: LogEntry): entry is ChatChange {
  return "kind" in entry;
}

/**
 * Internal marks the buffer writes into log JSON and readers strip: `noop` on a reaction that
 * changed nothing (added twice, removed when absent), `changed` on a message of the recent
 * history that has per-message state in Redis.
 */
export interface EntryMarks {
  noop?: boolean;
  changed?: boolean;
}

/** A message in its current state (the read model): edits folded in, tombstones, reactions. */
export interface MessageView extends ChatMessage {
  editedAt?: number;
  deleted?: true;
  reactions?: ReactionSummary[];
}

export interface ReactionSummary {
  emoji: string;
  /** Exact. */
  count: number;
  /** The first 25 reactors, in the order they reacted. */
  users: string[];
}

export const REACTION_USERS_SHOWN = 25;

/** One user's reaction to a message; `seq` orders the reactors. */
export interface Reaction {
  emoji: string;
  user: string;
  seq: number;
}

/** Reactions grouped by emoji, each emoji at its first reaction, users in reaction order. */
export function summarizeReactions(reactions: readonly Reaction[]): ReactionSummary[] {
  const byEmoji = new Map<string, Reaction[]>();
  for (const reaction of [...reactions].sort((a, b) => a.seq - b.seq)) {
    const list = byEmoji.get(reaction.emoji);
    if (list) list.push(reaction);
    else byEmoji.set(reaction.emoji, [reaction]);
  }
  return [...byEmoji].map(([emoji, list]) => ({
    emoji,
    count: list.length,
    users: list.slice(0, REACTION_USERS_SHOWN).map((r) => r.user),
  }));
}

/** A deleted message as every read shows it: no text, no meta, no reactions. */
export function tombstoneOf(message: ChatMessage): MessageView {
  return {
    id: message.id,
    room: message.room,
    seq: message.seq,
    from: message.from,
    clientId: message.clientId,
    text: "",
    ts: message.ts,
    deleted: true,
  };
}

/**
 * Serialised once on the socket node with seq and ts left open, as messages are: the change
 * script appends `,"seq":…,"ts":…}` (and a `noop` mark when it changed nothing).
 */
export function encodeChangeHead(change: NewChange): string {
  const json = JSON.stringify({
    room: change.room,
    by: change.by,
    clientId: change.clientId,
    kind: change.kind,
    target: change.target,
    targetSeq: change.targetSeq,
    text: change.text,
    emoji: change.emoji,
    on: change.on,
  });
  return json.slice(0, -1);
}

/** Parses a change's JSON as the buffer wrote it; the marks come back separately. */
export function decodeChange(json: string): { change: ChatChange; noop: boolean } {
  const value = JSON.parse(json) as Partial<ChatChange> & EntryMarks;
  if (
    typeof value.room !== "string" ||
    typeof value.seq !== "number" ||
    typeof value.ts !== "number" ||
    typeof value.by !== "string" ||
    typeof value.clientId !== "string" ||
    !CHANGE_KINDS.includes(value.kind as ChangeKind) ||
    typeof value.target !== "string" ||
    typeof value.targetSeq !== "number"
  ) {
    throw new TypeError("not a change: missing or mistyped fields");
  }
  const { noop, ...change } = value as ChatChange & EntryMarks;
  return { change, noop: noop === true };
}

/** A log entry's JSON: a change when it has a kind, a message otherwise. Marks stripped. */
export function decodeLogEntry(json: string): { entry: LogEntry; noop: boolean } {
  const value = JSON.parse(json) as { kind?: unknown };
  if (value.kind !== undefined) {
    const { change, noop } = decodeChange(json);
    return { entry: change, noop };
  }
  return { entry: decodeRecentMessage(json).message, noop: false };
}

/** A message of the recent history: the `changed` mark says whether Redis holds its state. */
export function decodeRecentMessage(json: string): { message: ChatMessage & { deleted?: true }; changed: boolean } {
  const { changed, ...message } = decodeMessage(json) as ChatMessage & EntryMarks & { deleted?: true };
  return { message, changed: changed === true };
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const MESSAGE_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * What a message id tells (storage/stream/append-script.ts builds it): its ts (the first 10
 * characters, exactly the message's ts) and its seq modulo 2^30 (the next 6). Enough to find the
 * message's Cassandra partition and row without an index; undefined for a string that is not an
 * id of ours.
 */
export function decodeMessageId(id: string): { ts: number; seq: number } | undefined {
  if (!MESSAGE_ID.test(id)) return undefined;
  const number = (text: string) => [...text].reduce((value, char) => value * 32 + CROCKFORD.indexOf(char), 0);
  const seq = number(id.slice(10, 16));
  if (seq === 0) return undefined;
  return { ts: number(id.slice(0, 10)), seq };
}
