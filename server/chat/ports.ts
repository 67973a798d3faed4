/**
 * What the chat domain needs from the rest of the node, as small interfaces it owns. The
 * storage classes (storage/stream/producer.ts, storage/history.ts,
 * storage/cassandra/user-rooms.ts, storage/cassandra/receipts.ts) and the fan-out (server/fanout/) fill them structurally;
 * unit tests fill them with in-memory fakes.
 */
import type { ChangeReceipt, ChatChange, MessageView, NewChange } from "../../storage/change.js";
import type { ChatMessage, NewMessage, SendReceipt } from "../../storage/message.js";
import type { RefusalReason } from "./limits.js";

/** A user's cluster-wide presence in a room changed. */
export interface PresenceChange {
  room: string;
  user: string;
  online: boolean;
}

/** Delivers to every socket in a room, on every node. Fire and forget: a lost delivery is recovered with `join { since }`. */
export interface RoomPublisher {
  message(message: ChatMessage): void;
  presence(change: PresenceChange): void;
}

/**
 * What appending a send to the durable log can come to. The log decides the last three
 * atomically with the append, because they are cluster-wide: the first receipt of an
 * idempotency key seen before, a full write buffer, the sender's rate limit.
 */
export type AppendOutcome =
  | { kind: "stored"; message: ChatMessage }
  | { kind: "duplicate"; receipt: SendReceipt }
  | { kind: "buffer_full" }
  | { kind: "rate_limited"; retryAfterMs: number };

/** The durable message log (the write buffer): assigns id, seq and ts. */
export interface MessageLog {
  /** `traceId`: the client action's correlation id (common/trace-id.ts), kept with the entry for the flusher's logs. */
  append(message: NewMessage, traceId?: string): Promise<AppendOutcome>;
}

export interface MessagePage {
  /** Ascending by seq; history gives them in their current state (docs/protocol.md v1.1). */
  messages: (ChatMessage | MessageView)[];
  /** True when older (for pages) or newer (for catch-up) messages exist beyond this page. */
  more: boolean;
}

/** A room's stored messages by seq. */
export interface MessageHistory {
  /** The room's latest acknowledged seq (0 for a room without messages). */
  latestSeq(room: string): Promise<number>;
  /** The newest `limit` messages below `beforeSeq` (or the newest of all). */
  page(room: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage>;
  /** Messages after `afterSeq`, oldest first, at most `limit`; `latest` is the room's latest seq. */
  since(room: string, afterSeq: number, limit: number): Promise<MessagePage & { latest: number; changes?: ChatChange[] }>;
  /** Messages (not changes) with readSeq < seq <= lastSeq, exact up to a cap; without it, every seq counts. */
  unread?(room: string, readSeq: number, lastSeq: number): Promise<number>;
}

/** What appending a change to the durable log can come to; the log decides all of it atomically with the append. */
export type ChangeOutcome =
  | { kind: "stored"; change: ChatChange }
  | { kind: "duplicate"; receipt: ChangeReceipt }
  | { kind: "buffer_full" }
  | { kind: "rate_limited"; retryAfterMs: number }
  | { kind: "not_found" }
  | { kind: "forbidden" }
  | { kind: "too_many_emoji" };

/** The durable log's side of edit, delete and react (storage/stream/change-buffer.ts). */
export interface ChangeLog {
  /** `traceId` as MessageLog's. */
  append(request: { change: NewChange; mayModerate: boolean; traceId?: string }): Promise<ChangeOutcome>;
}

/**
 * The first acks the flusher stored with their entries (storage/cassandra/receipts.ts): where a
 * repeated clientId is found once Redis let its receipt go (receipts.ts decides when to ask).
 * Undefined when none is stored, or its idempotency TTL is over.
 */
export interface StoredReceipts {
  sendReceipt(from: string, room: string, clientId: string): Promise<SendReceipt | undefined>;
  changeReceipt(by: string, room: string, clientId: string): Promise<ChangeReceipt | undefined>;
}

/** Delivers a change to every socket in its room, on every node. */
export interface ChangePublisher {
  change(change: ChatChange): void;
}

/** Each user's rooms and read pointers. */
export interface UserRoomList {
  /** Records that the user uses the room; leaves the read pointer as it is. */
  remember(userId: string, room: string): Promise<void>;
  /** Moves the read pointer forward, never back. */
  markRead(userId: string, room: string, seq: number): Promise<void>;
  /**
   * The user's rooms (at most `atMost`, in no particular order), each with its read pointer and
   * when the user last used it (joined or sent to it; ms since the epoch, 0 if unknown).
   */
  ofUser(userId: string, atMost: number): Promise<{ room: string; readSeq: number; activeAt: number }[]>;
}

/** The measurements the domain reports (prom-client's Counter and Histogram fit). */
export interface ChatMetrics {
  /** Sends acknowledged as stored (duplicates excluded). */
  messagesIn: { inc(): void };
  /** Seconds from receiving a send to acknowledging it. */
  ackLatency: { observe(seconds: number): void };
  /** Requests refused by a limit, by reason (docs/protocol.md v1.1 "Limits"). */
  refusals: RefusalCounter;
}

export interface RefusalCounter {
  inc(labels: { reason: RefusalReason }): void;
}

/** Where the domain reports a failure it answers for (storage down); fields, never message text. */
export interface ChatLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}
