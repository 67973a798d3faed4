/**
 * ChatClient: the SDK's front door. It composes the session (connection.ts), the rooms
 * (room-state.ts, kept in sync by room-sync.ts) and the outbox (outbox.ts), and turns the
 * server's events into typed ones.
 */
import type { BackoffOptions } from "./backoff.js";
import { uuidV7 } from "./client-id.js";
import { Connection, type ConnectionState } from "./connection.js";
import { Emitter } from "./emitter.js";
import { ChatError, errorFromBody } from "./errors.js";
import { Outbox, type OutboxResult } from "./outbox.js";
import { MemoryOutboxStore, type OutboxStore } from "./outbox-store.js";
import type {
  Ack,
  Change,
  ChangeResult,
  HistoryResult,
  Message,
  OutboxOperation,
  PresenceEvent,
  RoomsResult,
  SendResult,
  TypingEvent,
} from "./protocol.js";
import { RoomSync } from "./room-sync.js";
import type { RoomState } from "./room-state.js";
import { socketIoTransport, type SocketIoOptions } from "./socketio-transport.js";
import type { TokenProvider } from "./token.js";
import type { Transport } from "./transport.js";

export interface ChatClientOptions {
  /** The gateway's URL; not needed when `transport` is given. */
  url?: string;
  /** A JWT, or a function that returns a fresh one (called again on expiry). */
  token: string | TokenProvider;
  /** Where unacknowledged sends and changes survive a reload. Default: memory (they do not). */
  store?: OutboxStore;
  /** Replaces the socket.io transport (tests). */
  transport?: Transport;
  /** Passed to socket.io-client (path, transports, ...). */
  socketIo?: SocketIoOptions;
  /** Reconnects and retried sends. Defaults: 500 ms first ceiling, 30 s at most. */
  backoff?: BackoffOptions;
  /** How long a request waits for its ack (and for a session, when there is none), ms. Default 10 000. */
  requestTimeoutInMs?: number;
  /** How long a gap in a room may stay before it is fetched, ms: events from other nodes may just be late. Default 150. */
  gapFillDelayInMs?: number;
  /** Fewest ms between two `typing` events of one room. Default 2000 (the server's own limit). */
  typingIntervalInMs?: number;
  /** How long before the token's expiry a fresh one is fetched, ms. Default 10 000. */
  refreshLeadInMs?: number;
}

export interface ChatClientEvents {
  state: ConnectionState;
  /** A new message, applied in seq order, once. */
  message: Message;
  /** A change applied to a message; `message` is its state after the change. */
  change: { change: Change; message: Message };
  typing: TypingEvent;
  presence: PresenceEvent;
  /** The server's node is about to shut down; the client reconnects by itself. */
  draining: { reconnectAfterMs: number };
  /** Every joined room is caught up after a (re)connect. */
  synced: void;
  /** The number of operations in the outbox changed. */
  outbox: number;
  /** An outbox operation was acknowledged (also for those sent again after a reload). */
  sent: { operation: OutboxOperation; result: OutboxResult };
  /** An outbox operation was refused for good (FORBIDDEN, TOO_LARGE, ...). */
  failed: { operation: OutboxOperation; error: ChatError };
  /** A refused handshake, a failed room sync, a store failure. */
  error: ChatError;
}

export class ChatClient extends Emitter<ChatClientEvents> {
  private readonly connection: Connection;
  private readonly outbox: Outbox;
  private readonly sync: RoomSync;
  private readonly requestTimeoutInMs: number;
  private readonly typingIntervalInMs: number;
  private readonly lastTyping = new Map<string, number>();

  constructor(options: ChatClientOptions) {
    super();
    const transport = options.transport ?? socketIoTransport(required(options.url, "url"), options.socketIo);
    this.requestTimeoutInMs = options.requestTimeoutInMs ?? 10_000;
    this.typingIntervalInMs = options.typingIntervalInMs ?? 2000;
    this.connection = new Connection({
      transport,
      token: options.token,
      backoff: options.backoff,
      refreshLeadInMs: options.refreshLeadInMs,
      onState: (state) => {
        // Closed by itself (a token refused for good): what waits on it must not wait for ever.
        if (state === "closed") {
          this.outbox.close();
          this.sync.close();
        }
        this.emit("state", state);
      },
      onOpen: () => {
        this.outbox.resume();
        this.sync.resume();
      },
      onDown: () => {
        this.outbox.pause();
        this.sync.pause();
      },
      onEvent: (name, payload) => this.onServerEvent(name, payload),
      onError: (error) => this.emit("error", error),
    });
    const request = (event: string, payload: unknown) => this.connection.request(event, payload, this.requestTimeoutInMs, false);
    this.outbox = new Outbox({
      store: options.store ?? new MemoryOutboxStore(),
      request,
      backoff: options.backoff,
      onSize: (size) => this.emit("outbox", size),
      onSettled: (operation, outcome) => {
        if (!("result" in outcome)) return this.emit("failed", { operation, error: outcome.error });
        this.sync.expect(operation.room, outcome.result.seq);
        this.emit("sent", { operation, result: outcome.result });
      },
      onStoreError: (error) => this.emit("error", new ChatError("INTERNAL", `outbox store: ${error.message}`)),
    });
    this.sync = new RoomSync({
      request: (event, payload) => this.call(event, payload, false),
      backoff: options.backoff,
      gapFillDelayInMs: options.gapFillDelayInMs ?? 150,
      onMessage: (message) => this.emit("message", message),
      onChange: (change, message) => this.emit("change", { change, message }),
      onSynced: () => this.emit("synced", undefined),
      onError: (error) => this.emit("error", error),
    });
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Operations not acknowledged yet, in send order. */
  get pending(): OutboxOperation[] {
    return this.outbox.list();
  }

  /** Opens the session (and keeps it open until `close`). */
  connect(): this {
    this.connection.start();
    return this;
  }

  /** Ends the session for good; the outbox store keeps what was not acknowledged. */
  close(): void {
    this.connection.close();
  }

  /**
   * Joins a room and keeps it in sync across reconnects. Resolves once it is caught up.
   * `since`: the seq this caller already holds everything up to (then everything after it is
   * fetched); without it the room starts at its latest seq (page back with `loadOlder`).
   */
  join(room: string, options: { since?: number } = {}): Promise<RoomState> {
    return this.sync.join(room, options.since);
  }

  /** The state of a joined room. */
  room(room: string): RoomState | undefined {
    return this.sync.room(room);
  }

  async leave(room: string): Promise<void> {
    if (!this.sync.leave(room) || this.state !== "connected") return;
    await this.call("leave", { room });
  }

  /** Sends a message; resolves with its ack (kept and sent again, same clientId, until acknowledged). */
  send(room: string, text: string, meta?: Record<string, unknown>): Promise<SendResult> {
    return this.outbox.add({ kind: "send", room, clientId: newClientId(), text, ...(meta ? { meta } : {}) }) as Promise<SendResult>;
  }

  edit(room: string, id: string, text: string): Promise<ChangeResult> {
    return this.outbox.add({ kind: "edit", room, clientId: newClientId(), id, text });
  }

  delete(room: string, id: string): Promise<ChangeResult> {
    return this.outbox.add({ kind: "delete", room, clientId: newClientId(), id });
  }

  react(room: string, id: string, emoji: string, on = true): Promise<ChangeResult> {
    return this.outbox.add({ kind: "react", room, clientId: newClientId(), id, emoji, on });
  }

  /** One page of a room's history (current state), `beforeSeq` exclusive. */
  history(room: string, options: { beforeSeq?: number; limit?: number } = {}): Promise<HistoryResult> {
    return this.call("history", { room, ...options });
  }

  /** Adds the page before the oldest message held to the room's model; resolves with `more`. */
  async loadOlder(room: string, limit = 50): Promise<boolean> {
    const state = this.sync.room(room);
    if (!state) throw new ChatError("BAD_REQUEST", `room ${room} is not joined`);
    const beforeSeq = state.oldestSeq ?? (state.lastSeq ?? 0) + 1;
    const page = await this.history(room, { beforeSeq, limit });
    state.addOlder(page.messages);
    return page.more;
  }

  /** Tells the room this user is typing; at most once per `typingIntervalInMs` per room (false when skipped). */
  typing(room: string): boolean {
    const now = Date.now();
    if (this.state !== "connected" || now - (this.lastTyping.get(room) ?? -Infinity) < this.typingIntervalInMs) return false;
    this.lastTyping.set(room, now);
    this.connection.notify("typing", { room });
    return true;
  }

  /** The users online in the room, cluster-wide. */
  async presence(room: string): Promise<string[]> {
    return (await this.call<{ users: string[] }>("presence", { room })).users;
  }

  /** Stores this user's read pointer (the server never moves it back). */
  async markRead(room: string, seq: number): Promise<void> {
    await this.call("read", { room, seq });
  }

  /** The user's rooms with their unread counts. */
  rooms(options: { limit?: number; after?: string } = {}): Promise<RoomsResult> {
    return this.call("rooms", options);
  }

  /** A request with an ack; a refusal becomes a ChatError. */
  private async call<T>(event: string, payload: unknown, waitForSession = true): Promise<T> {
    const ack = (await this.connection.request(event, payload, this.requestTimeoutInMs, waitForSession)) as Ack<T> | undefined;
    if (ack?.ok) return ack;
    throw errorFromBody(ack?.error);
  }

  private onServerEvent(name: string, payload: unknown): void {
    if (!payload || typeof payload !== "object") return;
    const body = payload as Record<string, unknown>;
    switch (name) {
      case "message":
        return this.sync.received({ seq: body["seq"] as number, message: payload as Message }, body["room"]);
      case "change":
        return this.sync.received({ seq: body["seq"] as number, change: payload as Change }, body["room"]);
      case "typing":
      case "presence":
        return this.emit(name, payload as TypingEvent & PresenceEvent);
      case "draining": {
        const reconnectAfterMs = typeof body["reconnectAfterMs"] === "number" ? body["reconnectAfterMs"] : 0;
        this.emit("draining", { reconnectAfterMs });
        // Leave before the node closes us, at a random moment so its clients spread out; not
        // when that session is already gone and the client is on another node.
        const session = this.connection.sessions;
        setTimeout(() => this.connection.sessions === session && this.connection.reopen(), Math.random() * reconnectAfterMs);
      }
    }
  }
}

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new ChatError("BAD_REQUEST", `ChatClient needs \`${name}\``);
  return value;
}

/**
 * A UUIDv7 (client-id.ts): 74 random bits make it an idempotency key no other send of this user
 * will have, and its time lets the server answer a retry from Redis alone.
 */
export function newClientId(): string {
  return uuidV7();
}
