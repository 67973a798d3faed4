/**
 * The wire types of the chat protocol (v1, plus the v1.1 "Messages change" additions) as the
 * SDK sees them. Kept apart from the server's code on purpose: the SDK ships to browsers and
 * must not pull in anything of the server.
 */

export interface Message {
  id: string;
  room: string;
  /** Position in the room's log: messages and changes share one gap-free sequence. */
  seq: number;
  from: string;
  clientId: string;
  text: string;
  meta?: Record<string, unknown>;
  ts: number;
  /** v1.1 read model (history pages): the latest edit's ts. */
  editedAt?: number;
  /** v1.1 read model: a deleted message stays as a tombstone with empty text and no meta. */
  deleted?: boolean;
  reactions?: Reaction[];
}

export interface Reaction {
  emoji: string;
  count: number;
  /** The reactors this client knows of (the server lists at most the first 25). */
  users: string[];
}

export type ChangeKind = "edit" | "delete" | "react";

/**
 * v1.1 event `change`: an entry of the room's log that changes an earlier message. Also the
 * server's own type of a change (storage/change.ts takes it from here, as a type only).
 */
export interface Change {
  room: string;
  seq: number;
  ts: number;
  /** Who made the change, from the token. */
  by: string;
  clientId: string;
  kind: ChangeKind;
  /** Id of the changed message. */
  target: string;
  targetSeq: number;
  /** edit: the new text ("" once the message is deleted: deletion erases earlier edits too). */
  text?: string;
  /** react */
  emoji?: string;
  on?: boolean;
}

export interface ErrorBody {
  code: string;
  message: string;
  retryAfterMs?: number;
}

export type Ack<T> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

export interface JoinResult {
  room: string;
  /** The room's latest seq. */
  seq: number;
  messages?: Message[];
  changes?: Change[];
  more?: boolean;
}

export interface SendResult {
  id: string;
  seq: number;
  ts: number;
  duplicate?: boolean;
}

/** Ack of edit / delete / react (v1.1). */
export interface ChangeResult {
  seq: number;
  ts: number;
  duplicate?: boolean;
}

export interface HistoryResult {
  messages: Message[];
  more: boolean;
}

export interface RoomSummary {
  room: string;
  lastSeq: number;
  readSeq: number;
  unread: number;
}

export interface RoomsResult {
  rooms: RoomSummary[];
  /** v1.1 paging cursor. */
  next?: string;
}

export interface TypingEvent {
  room: string;
  user: string;
}

export interface PresenceEvent {
  room: string;
  user: string;
  online: boolean;
}

/** What a client sends that the outbox keeps until acknowledged (the payload of its event). */
export type OutboxOperation =
  | { kind: "send"; room: string; clientId: string; text: string; meta?: Record<string, unknown> }
  | { kind: "edit"; room: string; clientId: string; id: string; text: string }
  | { kind: "delete"; room: string; clientId: string; id: string }
  | { kind: "react"; room: string; clientId: string; id: string; emoji: string; on: boolean };
