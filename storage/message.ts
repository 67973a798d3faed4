/**
 * The message as clients see it (docs/protocol.md "Message") and as it travels from a socket node
 * through the Redis write buffer to the flusher. This file is the server ↔ flusher contract.
 */
export interface ChatMessage {
  /**
   * Unique across the cluster, time-ordered: 26 Crockford base-32 characters, ULID-shaped, of
   * 48-bit ms time, 30 bits of the room's seq and 50 random bits; in send order within a room.
   */
  id: string;
  room: string;
  /** Per room: 1, 2, 3, ... with no gaps among acknowledged messages. */
  seq: number;
  /** The sender's user id, taken from the token. */
  from: string;
  /** The sender's idempotency key. */
  clientId: string;
  text: string;
  meta?: Record<string, unknown>;
  /** Server time (Redis's clock, so it never goes backwards within a room), ms since the epoch. */
  ts: number;
}

/** What a send has to say; the write buffer adds id, seq and ts atomically. */
export type NewMessage = Omit<ChatMessage, "id" | "seq" | "ts">;

/** The acknowledgement of a send, also what is replayed for a duplicate clientId. */
export interface SendReceipt {
  id: string;
  seq: number;
  ts: number;
}

/**
 * Messages are serialised once, on the socket node, with the fields the buffer assigns left
 * open: the Lua script appends `,"id":…,"seq":…,"ts":…}`. One JSON text then serves the stream
 * entry and the recent-history cache, and is parsed again only by its readers.
 */
export function encodeMessageHead(message: NewMessage): string {
  const json = JSON.stringify({
    room: message.room,
    from: message.from,
    clientId: message.clientId,
    text: message.text,
    meta: message.meta,
  });
  return json.slice(0, -1);
}

/** Parses a JSON text written by the buffer, checking the fields readers rely on. */
export function decodeMessage(json: string): ChatMessage {
  const value = JSON.parse(json) as Partial<ChatMessage>;
  if (
    typeof value.id !== "string" ||
    typeof value.room !== "string" ||
    typeof value.seq !== "number" ||
    typeof value.from !== "string" ||
    typeof value.clientId !== "string" ||
    typeof value.text !== "string" ||
    typeof value.ts !== "number"
  ) {
    throw new TypeError("not a chat message: missing or mistyped fields");
  }
  return value as ChatMessage;
}

/** Timeline partition of a message: (room, bucket). */
export function bucketOf(ts: number, bucketWidthInMs: number): number {
  return Math.floor(ts / bucketWidthInMs);
}
