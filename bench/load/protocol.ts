/** The commands a load generator process accepts over IPC, and its answers. */

/**
 * "socketio": Engine.IO v4 / socket.io v4 framing over a websocket; "uws": the raw reference's
 * framing; "centrifugo": centrifuge-js clients (the peer's own SDK).
 */
export type WireKind = "socketio" | "uws" | "centrifugo";

export type GeneratorCommand =
  | { type: "connect"; kind: WireKind; url: string; count: number; token?: string; localAddresses: string[]; concurrency: number }
  /** Clients [from, to) join `room` (socket.io: `join` with ack; uws: subscribe, echoed; centrifugo: subscribe). */
  | { type: "join"; from: number; to: number; room: string }
  /** The delivery tally since the last reset, over all clients. */
  | { type: "count" }
  /** Starts a counting window: zeroes the tally; deliveries of rooms not in `rooms` are misrouted. */
  | { type: "reset"; rooms: string[] }
  /** Start or stop recording end-to-end latency of received messages (send time is in the text). */
  | { type: "record"; on: boolean }
  | { type: "collect" }
  | { type: "send"; plan: SendPlan }
  | { type: "close" };

/**
 * What the clients of one generator received since the last reset. A delivery is a `message`
 * event (uws: an "m" frame) carrying a room and a seq; it is counted once per (client, room,
 * seq), and only when the client joined that room and the room is one the window sends to.
 */
export interface DeliveryTally {
  /** First receipt of (client, room, seq) for a joined room of the window: the deliveries. */
  counted: number;
  /** A (client, room, seq) received again, or a seq at or below one seen before the window. */
  duplicated: number;
  /** A delivery to a client that did not join its room, or of a room the window does not send to. */
  misrouted: number;
  /** A message frame without a readable room and seq. */
  malformed: number;
  /** Other server events (presence, typing, draining): not deliveries, not errors. */
  otherEvents: number;
  /** Clients whose websocket is open now. */
  open: number;
  /** Clients opened so far (open ones and the ones that closed since). */
  clients: number;
}

export interface SendPlan {
  /** Senders are clients [from, to), used round-robin. */
  from: number;
  to: number;
  /** Sender i sends to rooms[i % rooms.length]. */
  rooms: string[];
  textBytes: number;
  /** Open loop: total sends per second over all senders, for durationInMs. */
  ratePerSecond?: number;
  /** Closed loop: each sender keeps this many sends awaiting their ack, for durationInMs. */
  inFlightPerSender?: number;
  durationInMs: number;
  /** Keep each acked send's latency (ms) in the answer. */
  recordAckLatency: boolean;
  /** A send not acknowledged within this long fails as TIMEOUT (default ACK_TIMEOUT_IN_MS). */
  ackTimeoutInMs?: number;
  /** Keep each acked send's receipt (room, seq, id, ts) in the answer, to check later that it was stored once (socket.io only). */
  recordReceipts?: boolean;
  /**
   * Message changes instead of sends (socket.io, our server only): each request is an `edit` or a
   * `react` (alternately) to one of `targets`, messages the same user (`by`, the senders' token's
   * user) sent; `rooms` is then unused. With recordReceipts, the answer's `changeReceipts`.
   */
  changes?: { targets: ChangeTarget[]; by: string };
}

/** A message changes are made to: its room and id. */
export interface ChangeTarget {
  room: string;
  id: string;
}

/**
 * What an `ok` change ack says was appended to the room's log (its seq and ts), with what the
 * change was: enough to find its log row and to know the projection's final state.
 */
export interface ChangeReceipt {
  room: string;
  seq: number;
  ts: number;
  clientId: string;
  kind: "edit" | "react";
  /** The changed message's id. */
  target: string;
  /** Who made it (the token's user). */
  by: string;
  /** edit: the new text. */
  text?: string;
  /** react: the emoji, and whether it was added or removed. */
  emoji?: string;
  on?: boolean;
}

/** What an `ok` send ack says was stored: the message's room, the seq and id it was given, and its ts. */
export interface Receipt {
  room: string;
  seq: number;
  id: string;
  ts: number;
}

/** How long a send or join may wait for its ack before it counts as failed. */
export const ACK_TIMEOUT_IN_MS = 10_000;

export interface SendResult {
  sent: number;
  acked: number;
  failed: number;
  /** Failure codes seen, with counts (e.g. RATE_LIMITED, TIMEOUT, CLOSED, DUPLICATE). */
  failures: Record<string, number>;
  elapsedInMs: number;
  ackLatenciesInMs: number[];
  /** With plan.recordReceipts: one per acknowledged send. */
  receipts?: Receipt[];
  /** With plan.changes and plan.recordReceipts: one per acknowledged change. */
  changeReceipts?: ChangeReceipt[];
}

export type GeneratorAnswer =
  | { type: "connected"; first: number; connected: number; failed: number; firstError?: string }
  | { type: "count"; tally: DeliveryTally }
  | { type: "collected"; latenciesInMs: number[] }
  | { type: "sent"; result: SendResult }
  | { type: "done" };
