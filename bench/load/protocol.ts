/** The commands a load generator process accepts over IPC, and its answers. */

/** "socketio": Engine.IO v4 / socket.io v4 framing over a websocket; "uws": the raw reference's framing. */
export type WireKind = "socketio" | "uws";

export type GeneratorCommand =
  | { type: "connect"; kind: WireKind; url: string; count: number; token?: string; localAddresses: string[]; concurrency: number }
  /** Clients [from, to) join `room` (socket.io: `join` with ack; uws: subscribe, echoed). */
  | { type: "join"; from: number; to: number; room: string }
  /** Deliveries (`message` events) received since the last reset, over all clients. */
  | { type: "count" }
  | { type: "reset" }
  /** Start or stop recording end-to-end latency of received messages (send time is in the text). */
  | { type: "record"; on: boolean }
  | { type: "collect" }
  | { type: "send"; plan: SendPlan }
  | { type: "close" };

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
}

export interface SendResult {
  sent: number;
  acked: number;
  failed: number;
  /** Failure codes seen, with counts (e.g. RATE_LIMITED). */
  failures: Record<string, number>;
  elapsedInMs: number;
  ackLatenciesInMs: number[];
}

export type GeneratorAnswer =
  | { type: "connected"; first: number; connected: number; failed: number; firstError?: string }
  | { type: "count"; received: number }
  | { type: "collected"; latenciesInMs: number[] }
  | { type: "sent"; result: SendResult }
  | { type: "done" };
