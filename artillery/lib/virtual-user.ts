/**
 * One virtual chat user: a socket.io client through the gateway that joins its rooms, sends,
 * receives, and at the end checks by seq that it got every acknowledged message it had to
 * get (ledger.ts). With change shares set, it also edits and deletes some of its own messages
 * and reacts to others' (change-book.ts), and at the end reads the rooms' history back to check
 * that every acknowledged change is there. It also measures what Artillery alone cannot: ack
 * latency, broadcast latency (the sender's clock at send → receipt by another user, same
 * machine so same clock) and, in the reconnect storm, catch-up with `join { since }`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { io, type Socket } from "socket.io-client";
import { uuidV7 } from "../../client/client-id.js";
import { AckDeadlines } from "./ack-deadlines.js";
import { admitWithBackoff, openOnce, type Admission } from "./admission.js";
import { ChangeBook, verifyAgainstHistory, type ChangeShares, type MessageState, type PlannedChange } from "./change-book.js";
import { auditDelivery, type DeliveryLedger } from "./ledger.js";
import { allRooms, pickSendRoom, type RoomModel, type UserRooms } from "./rooms.js";

/** Where measurements go: Artillery's per-worker event emitter in the processor. */
export interface MetricSink {
  counter(name: string, value?: number): void;
  histogram(name: string, valueInMs: number): void;
}

export type Transport = "websocket" | "polling";

export interface VirtualUserOptions {
  url: string;
  token: string;
  userId: string;
  rooms: UserRooms;
  model: RoomModel;
  transports: Transport[];
  ackTimeoutInMs: number;
  ledger: DeliveryLedger;
  changes: ChangeShares;
  /** A second histogram for each send's ack latency, chosen by when it was sent (per-phase figures), or none. */
  ackTag?: (sentAt: number) => string | undefined;
}

interface ErrorAck {
  ok: false;
  error?: { code?: string; message?: string; retryAfterMs?: number };
}
type Ack<T> = ({ ok: true } & T) | ErrorAck;

interface ChatMessage {
  id: string;
  room: string;
  seq: number;
  from: string;
  meta?: { sentAt?: unknown; deletable?: unknown };
}

/** The `change` event (docs/protocol.md v1.1): only what the checks read. */
interface ChatChange {
  room: string;
  seq: number;
}

/** history pages hold at most this many messages (docs/protocol.md). */
const HISTORY_PAGE = 100;

/** An event the server refused (or did not answer): the virtual user fails with it. */
export class ChatRequestError extends Error {
  override name = "ChatRequestError";
  constructor(
    readonly event: string,
    readonly code: string,
    detail: string,
  ) {
    super(`${event}: ${code}${detail ? ` (${detail})` : ""}`);
  }
}

interface RoomState {
  /** Latest seq when the (first) join was acknowledged; undefined while the join is pending. */
  joinSeq: number | undefined;
  /** Every seq received, live or by catch-up. */
  received: Set<number>;
  /** Seqs that came by `join { since }`: the same seq arriving live afterwards is the expected overlap, not a duplicate. */
  caughtUp: Set<number>;
}

const RECONNECT_ATTEMPTS = 6;
const RECONNECT_FIRST_BACKOFF_IN_MS = 500;
/** `join { since }` returns at most 500 messages (docs/protocol.md); more pages than this is a bug. */
const MAX_CATCH_UP_PAGES = 100;
/** Every user of the worker shares one ack-timeout timer. */
const ackDeadlines = new AckDeadlines();

export class VirtualUser {
  private readonly socket: Socket;
  private readonly roomStates = new Map<string, RoomState>();
  private sent = 0;
  private changesSent = 0;
  private closed = false;
  private readonly changeBook: ChangeBook;

  constructor(
    private readonly options: VirtualUserOptions,
    private readonly metrics: MetricSink,
  ) {
    this.socket = io(options.url, {
      auth: { token: options.token },
      transports: options.transports,
      // Reconnection is this class's job (reconnect()), so the storm controls when and counts retries.
      reconnection: false,
      autoConnect: false,
      forceNew: true,
      timeout: options.ackTimeoutInMs,
    });
    this.socket.on("message", (message: ChatMessage) => this.onMessage(message));
    this.socket.on("change", (change: ChatChange) => this.onChange(change));
    this.changeBook = new ChangeBook(options.changes);
  }

  get userId(): string {
    return this.options.userId;
  }

  /**
   * Connects; a handshake refused with 503/429 (or not answered) is retried after Retry-After with
   * the SDK's backoff for up to `maxWaitInMs` (0: not retried), then it throws NeverAdmitted.
   */
  async connect(maxWaitInMs = 0): Promise<Admission> {
    const admission = await admitWithBackoff({
      attempt: () => openOnce(this.socket),
      maxWaitInMs,
      onRefused: (refusal) => {
        this.metrics.counter("chat.admission_refused");
        this.metrics.counter(`chat.admission_refused.${refusal.status || refusal.code}`);
        this.metrics.counter("chat.admission_retries");
      },
    });
    this.metrics.histogram("chat.connect_latency", admission.waitedInMs);
    return admission;
  }

  async joinRooms(): Promise<void> {
    for (const room of allRooms(this.options.rooms)) {
      // The state exists before the join is sent: a message fanned out to us can arrive before the ack.
      this.roomStates.set(room, { joinSeq: undefined, received: new Set(), caughtUp: new Set() });
      const started = Date.now();
      const ack = await this.request<{ seq: number }>("join", { room });
      this.metrics.histogram("chat.join_latency", Date.now() - started);
      this.roomStates.get(room)!.joinSeq = ack.seq;
      this.options.ledger.join({ memberId: this.userId, room, joinSeq: ack.seq });
    }
  }

  async send(): Promise<void> {
    const room = pickSendRoom(this.options.model, this.options.rooms);
    const sentAt = Date.now();
    // Marked in the message itself, so that no other user reacts to a message its author will delete.
    const deletable = this.changeBook.nextSendDeletable();
    this.sent += 1;
    this.metrics.counter("chat.messages_sent");
    const ack = await this.request<{ id: string; seq: number; duplicate?: boolean }>("send", {
      room,
      clientId: uuidV7(), // recent UUIDv7: the server answers retries from Redis alone (docs/protocol.md)
      text: messageText(this.sent),
      meta: deletable ? { sentAt, deletable } : { sentAt },
    });
    const ackedAt = Date.now();
    this.metrics.histogram("chat.ack_latency", ackedAt - sentAt);
    const tag = this.options.ackTag?.(sentAt);
    if (tag) this.metrics.histogram(tag, ackedAt - sentAt);
    this.metrics.counter("chat.messages_acked");
    // Every clientId is new, so a duplicate ack means the server's idempotency misfired.
    if (ack.duplicate) this.metrics.counter("chat.unexpected_duplicate_acks");
    this.options.ledger.acknowledged(room, ack.seq, ackedAt);
    this.changeBook.ownSent({ room, id: ack.id, seq: ack.seq }, deletable);
  }

  /** One step's changes (change-book.ts decides which), each awaited before the next, as a person makes them. */
  async changeMessages(): Promise<void> {
    for (const change of this.changeBook.plan()) await this.sendChange(change);
  }

  private async sendChange(change: PlannedChange): Promise<void> {
    const { room, id } = change.target;
    this.changesSent += 1;
    const clientId = `${this.userId}-c${this.changesSent}`;
    const payload =
      change.kind === "edit"
        ? { room, id, clientId, text: change.text }
        : change.kind === "react"
          ? { room, id, clientId, emoji: change.emoji, on: change.on }
          : { room, id, clientId };
    const sentAt = Date.now();
    this.metrics.counter("chat.changes_sent");
    const ack = await this.request<{ seq: number; duplicate?: boolean }>(change.kind, payload);
    const ackedAt = Date.now();
    this.metrics.histogram("chat.change_ack_latency", ackedAt - sentAt);
    this.metrics.counter("chat.changes_acked");
    this.metrics.counter(`chat.changes_acked.${change.kind}`);
    if (ack.duplicate) this.metrics.counter("chat.unexpected_duplicate_acks");
    this.options.ledger.acknowledged(room, ack.seq, ackedAt, true);
    this.changeBook.acknowledged(change);
  }

  /**
   * The reconnect storm's client side: keeps chatting until `dropAt`, loses its connection
   * (the transport closes under it, as on a network failure), stays offline until
   * `reconnectAt` (the same instant for every user), then reconnects and catches up with
   * `join { since: lastSeenSeq }` for each room, and checks that nothing in between is missing.
   */
  async outageAndReconnect({ dropAt, reconnectAt, thinkInMs }: { dropAt: number; reconnectAt: number; thinkInMs: number }): Promise<void> {
    while (Date.now() + thinkInMs < dropAt) {
      await this.send();
      await sleep(thinkInMs);
    }
    await sleep(Math.max(0, dropAt - Date.now()));
    const lastSeen = new Map([...this.roomStates].map(([room, state]) => [room, contiguousSeq(state)]));
    this.socket.io.engine?.close();
    await sleep(Math.max(0, reconnectAt - Date.now()));

    const started = Date.now();
    await this.openSocket(RECONNECT_ATTEMPTS);
    for (const [room, since] of lastSeen) {
      const latest = await this.catchUp(room, since);
      const state = this.roomStates.get(room)!;
      let gaps = 0;
      for (let seq = since + 1; seq <= latest; seq += 1) if (!state.received.has(seq)) gaps += 1;
      this.metrics.counter("chat.storm_gaps", gaps);
    }
    this.metrics.histogram("chat.reconnect_latency", Date.now() - started);
    this.metrics.counter("chat.reconnects");
  }

  /**
   * Waits `graceInMs` for messages still in flight, then counts, for each room, the
   * acknowledged messages and changes it should have received but did not (lost) against the
   * ledger; live duplicates are counted as they arrive (onMessage, onChange). Then reads its
   * changed messages back from the rooms' history: every change it had acknowledged must show
   * there (edited text, tombstone, reaction), else it counts as a lost change. Then disconnects.
   */
  async finish(graceInMs: number): Promise<void> {
    await sleep(graceInMs);
    const ackedBy = Date.now() - graceInMs;
    const owed = { messages: 0, messagesLost: 0, changes: 0, changesLost: 0 };
    for (const [room, state] of this.roomStates) {
      if (state.joinSeq === undefined) continue;
      const expected = this.options.ledger.expected(this.userId, room, ackedBy);
      const { lost } = auditDelivery(expected, state.received);
      const changes = expected.filter((seq) => this.options.ledger.isChange(room, seq)).length;
      const changesLost = lost.filter((seq) => this.options.ledger.isChange(room, seq)).length;
      owed.messages += expected.length - changes;
      owed.messagesLost += lost.length - changesLost;
      owed.changes += changes;
      owed.changesLost += changesLost;
    }
    this.metrics.counter("chat.messages_expected", owed.messages);
    this.metrics.counter("chat.messages_lost", owed.messagesLost);
    this.metrics.counter("chat.change_deliveries_expected", owed.changes);
    this.metrics.counter("chat.change_deliveries_lost", owed.changesLost);
    const verdict = await verifyAgainstHistory(
      this.changeBook.expected(),
      (room, beforeSeq) => this.historyPage(room, beforeSeq),
      this.userId,
    );
    this.metrics.counter("chat.changes_verified", verdict.verified);
    this.metrics.counter("chat.changes_lost", verdict.lost.length);
    this.metrics.counter("chat.changes_unverifiable", verdict.unverifiable);
    // One line per user with the first message id and what was wrong (never message text), so a failed run says where to look.
    if (verdict.lost.length > 0) console.error(`[load] ${this.userId}: ${verdict.lost.length} change(s) lost, first: ${verdict.lost[0]}`);
    // The suites' `ensure` requires these to be 0, and Artillery's ensure fails a condition on
    // a counter that was never emitted: emit them, so a clean run has them at 0.
    this.metrics.counter("chat.messages_duplicated", 0);
    this.metrics.counter("chat.changes_duplicated", 0);
    this.metrics.counter("chat.unexpected_duplicate_acks", 0);
    this.close();
  }

  private async historyPage(room: string, beforeSeq: number): Promise<(MessageState & { seq: number })[]> {
    const ack = await this.request<{ messages: (MessageState & { seq: number })[] }>("history", { room, beforeSeq, limit: HISTORY_PAGE });
    return ack.messages;
  }

  /** Disconnects and leaves the ledger; safe to call twice (a failed user is closed by the processor). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const room of this.roomStates.keys()) this.options.ledger.leave(this.userId, room);
    this.socket.disconnect();
  }

  private onMessage(message: ChatMessage): void {
    const state = this.roomStates.get(message.room);
    if (!state || typeof message.seq !== "number") return;
    if (state.received.has(message.seq)) {
      // docs/protocol.md: join adds the socket before it reads, so a message sent in between comes both ways.
      if (state.caughtUp.delete(message.seq)) this.metrics.counter("chat.catch_up_overlaps");
      else this.metrics.counter("chat.messages_duplicated");
      return;
    }
    state.received.add(message.seq);
    this.metrics.counter("chat.messages_received");
    const sentAt = message.meta?.sentAt;
    if (message.from !== this.userId && typeof sentAt === "number") this.metrics.histogram("chat.broadcast_latency", Date.now() - sentAt);
    if (message.from !== this.userId && typeof message.id === "string")
      this.changeBook.othersReceived({ room: message.room, id: message.id, seq: message.seq }, message.meta?.deletable === true);
  }

  /** A change takes a seq of the room's log like a message: the same bookkeeping, its own counters. */
  private onChange(change: ChatChange): void {
    const state = this.roomStates.get(change.room);
    if (!state || typeof change.seq !== "number") return;
    if (state.received.has(change.seq)) {
      if (state.caughtUp.delete(change.seq)) this.metrics.counter("chat.catch_up_overlaps");
      else this.metrics.counter("chat.changes_duplicated");
      return;
    }
    state.received.add(change.seq);
    this.metrics.counter("chat.changes_received");
  }

  /** Pages through `join { since }` until the room is caught up; returns the room's latest seq. */
  private async catchUp(room: string, since: number): Promise<number> {
    const state = this.roomStates.get(room)!;
    let cursor = since;
    for (let page = 0; page < MAX_CATCH_UP_PAGES; page += 1) {
      const ack = await this.request<{ seq: number; messages?: ChatMessage[]; changes?: ChatChange[]; more?: boolean }>("join", {
        room,
        since: cursor,
      });
      // The log after `since` is its messages and its changes (left out when there are none).
      for (const entry of [...(ack.messages ?? []), ...(ack.changes ?? [])]) {
        if (!state.received.has(entry.seq)) state.caughtUp.add(entry.seq);
        state.received.add(entry.seq);
        cursor = Math.max(cursor, entry.seq);
      }
      this.metrics.counter("chat.caught_up_messages", ack.messages?.length ?? 0);
      if (!ack.more) return ack.seq;
    }
    throw new ChatRequestError("join", "CATCH_UP_INCOMPLETE", `still more after ${MAX_CATCH_UP_PAGES} pages`);
  }

  /** Connects, retrying a refused or timed-out handshake with exponential backoff (the reconnect storm's own retries). */
  private async openSocket(attempts = 1): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await openOnce(this.socket);
      } catch (error) {
        if (attempt >= attempts) throw error;
        this.metrics.counter("chat.reconnect_retries");
        const backoff = RECONNECT_FIRST_BACKOFF_IN_MS * 2 ** (attempt - 1);
        await sleep(backoff / 2 + Math.random() * backoff);
      }
    }
  }

  private async request<T>(event: string, payload: unknown): Promise<T> {
    const ack = await new Promise<Ack<T>>((resolve, reject) => {
      const pending = ackDeadlines.track(this.options.ackTimeoutInMs, () => {
        this.metrics.counter(`chat.errors.${event}.TIMEOUT`);
        reject(new ChatRequestError(event, "TIMEOUT", `no ack within ${this.options.ackTimeoutInMs} ms`));
      });
      this.socket.emit(event, payload, (answer: Ack<T>) => {
        if (ackDeadlines.settle(pending)) resolve(answer);
      });
    });
    if (!ack.ok) {
      const code = ack.error?.code ?? "UNKNOWN";
      this.metrics.counter(`chat.errors.${event}.${code}`);
      throw new ChatRequestError(event, code, ack.error?.message ?? "");
    }
    return ack;
  }
}

/** The highest seq up to which a room's messages arrived without a gap: what a client would pass as `since`. */
function contiguousSeq(state: RoomState): number {
  let seq = state.joinSeq ?? 0;
  while (state.received.has(seq + 1)) seq += 1;
  return seq;
}

const WORDS = [
  "ok",
  "ship it",
  "looks good",
  "on my way",
  "can you review",
  "lunch?",
  "the build is green",
  "merged",
  "see the doc",
  "thanks!",
];

/** Short chat lines of varying length, like people type. */
function messageText(n: number): string {
  const words = 1 + (n % 7);
  return Array.from({ length: words }, (_, i) => WORDS[(n + i) % WORDS.length]).join(" ");
}
