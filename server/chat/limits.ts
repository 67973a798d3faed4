/**
 * What one user may make the cluster do (docs/protocol.md "Send" and v1.1 "Limits: one user cannot
 * hurt the others"); read from the environment by server/config.ts, which lists every setting.
 */
export interface Limits {
  /** Longest message text, in characters (UTF-16 code units, as String.length counts). */
  maxTextChars: number;
  /** Largest `meta`, in bytes of its JSON. */
  maxMetaBytes: number;
  maxClientIdChars: number;
  /** Sustained sends per second per user, and the burst above it (token bucket, enforced by the message log). */
  sendsPerSecond: number;
  sendBurst: number;
  /** Client events of every kind per second per user, cluster-wide, and the burst above it (event-budget.ts). */
  eventsPerSecond: number;
  eventBurst: number;
  /** A socket sending at 10× eventsPerSecond for this long is disconnected (RATE_LIMITED). */
  floodDisconnectAfterMs: number;
  /** At most one `typing` per user and room is fanned out per this interval; the rest are dropped. */
  typingIntervalInMs: number;
  /** Rooms one socket may have joined at once. */
  roomsPerSocket: number;
  /** Sockets one user may have open at once, cluster-wide. */
  connectionsPerUser: number;
  /** Largest token accepted, in bytes (socket auth and REST Bearer alike). */
  maxTokenBytes: number;
  /** Most patterns in a token's `rooms` claim, and in its `mod` claim. */
  maxTokenPatterns: number;
  /**
   * Outgoing bytes the node holds for one socket that its client has not read (WebSocket) or
   * polled (long-polling); a socket that has more than this waiting when more comes is closed
   * (server/realtime/slow-consumer.ts). One reply larger than this is still sent whole.
   */
  maxOutgoingBufferBytes: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxTextChars: 4000,
  maxMetaBytes: 2048,
  maxClientIdChars: 64,
  sendsPerSecond: 20,
  sendBurst: 40,
  eventsPerSecond: 50,
  eventBurst: 100,
  floodDisconnectAfterMs: 10_000,
  typingIntervalInMs: 2000,
  roomsPerSocket: 256,
  connectionsPerUser: 20,
  maxTokenBytes: 8192,
  maxTokenPatterns: 256,
  maxOutgoingBufferBytes: 1024 * 1024,
};

/** A socket is flooding when it sends this many times the event rate (for floodDisconnectAfterMs)... */
export const FLOOD_FACTOR = 10;
/** ...or this many times the event rate within one second. */
export const FLOOD_BURST_FACTOR = 20;

/** Why a request was refused by a limit: the `reason` label of chat_refusals_total. */
export type RefusalReason =
  | "event_rate"
  | "send_rate"
  | "flood_disconnect"
  | "typing_throttled"
  | "rooms_per_socket"
  | "connections_per_user"
  | "token_too_large"
  | "token_too_many_patterns"
  | "event_too_large"
  | "auth_timeout"
  | "slow_consumer";
