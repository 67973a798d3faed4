/**
 * What a user can do with rooms, independent of the transport: the socket events and the
 * REST API both call this, so validation, permissions, limits and the durable send path exist
 * once. Commands arrive as the transport parsed them (`unknown`) and are validated here, in one
 * step per command (commands.ts).
 */
import type { ChatChange } from "../../storage/change.js";
import type { ChatMessage } from "../../storage/message.js";
import { traceFields } from "../../common/trace-id.js";
import { mapBounded } from "./bounded.js";
import { CommandValidator, type JoinCommand, type JoinedRooms, type RoomCommand } from "./commands.js";
import { ChatError } from "./errors.js";
import type { EventBudget } from "./event-budget.js";
import type { Limits } from "./limits.js";
import { decodeRoomsCursor, encodeRoomsCursor, isAfterCursor, type RoomsCursor } from "./rooms-cursor.js";
import type { ChatLogger, ChatMetrics, MessageHistory, MessageLog, MessagePage, RoomPublisher, UserRoomList } from "./ports.js";
import type { Principal } from "./principal.js";
import type { PriorReceipts } from "./receipts.js";
import type { TypingThrottle } from "./typing-throttle.js";

/** At most this many missed messages come back with `join { since }`. */
export const CATCH_UP_LIMIT = 500;
export const HISTORY_DEFAULT_LIMIT = 50;
/** What a client is told to wait when the buffer is full (Cassandra down for a while). */
const BUFFER_FULL_RETRY_AFTER_MS = 2000;
const STORAGE_RETRY_AFTER_MS = 1000;
/** `rooms` reads at most this many of a user's remembered rooms (one storage page of them). */
export const ROOMS_SCANNED_MAX = 5000;
/** Latest-seq lookups of one `rooms` page in flight at once. */
const ROOM_LOOKUP_CONCURRENCY = 16;

export interface SendResult {
  id: string;
  seq: number;
  ts: number;
  duplicate?: true;
}

export interface RoomState {
  room: string;
  lastSeq: number;
  readSeq: number;
  unread: number;
}

export interface RoomsPage {
  rooms: RoomState[];
  /** The cursor of the following page (`rooms { after: next }`); absent on the last page. */
  next?: string;
}

export interface JoinState {
  seq: number;
  messages?: ChatMessage[];
  /** v1.1: the changes among the entries after `since` (docs/protocol.md "Messages change"). */
  changes?: ChatChange[];
  more?: boolean;
}

export interface ChatServiceDeps {
  publisher: RoomPublisher;
  log: MessageLog;
  history: MessageHistory;
  /** First acks older than Redis's receipt window (receipts.ts). */
  receipts: PriorReceipts;
  userRooms: UserRoomList;
  limits: Limits;
  metrics: ChatMetrics;
  logger: ChatLogger;
  /** Every client event's budget (event-budget.ts), shared with the node's cluster sync. */
  eventBudget: EventBudget;
  typing: TypingThrottle;
  now?: () => number;
}

/** Bound on the per-node memory of (user, room) pairs recently recorded in the user's room list. */
const REMEMBERED_ROOMS_MAX = 50_000;
/** A pair recorded longer ago than this is recorded again on its next use: the activity `rooms` sorts by. */
const REMEMBER_AGAIN_AFTER_MS = 5 * 60_000;

export class ChatService {
  /** (user, room) → when this node last recorded it, oldest first: saves a Cassandra write per send. */
  private readonly remembered = new Map<string, number>();
  private readonly validate: CommandValidator;
  private readonly now: () => number;

  constructor(private readonly deps: ChatServiceDeps) {
    this.validate = new CommandValidator(deps.limits);
    this.now = deps.now ?? Date.now;
  }

  /**
   * Charges one client event (of any kind, well-formed or not) to the user's budget, before
   * anything else about it is looked at; RATE_LIMITED with the wait when it is spent.
   */
  admit(principal: Principal): void {
    const waitInMs = this.deps.eventBudget.take(principal.userId);
    if (waitInMs === 0) return;
    this.deps.metrics.refusals.inc({ reason: "event_rate" });
    throw new ChatError("RATE_LIMITED", "too many requests, slow down", waitInMs);
  }

  /** typing: the room, and whether to fan it out (at most one per user and room per interval). */
  typing(principal: Principal, input: unknown): RoomCommand & { deliver: boolean } {
    const command = this.validate.room(principal, input);
    const deliver = this.deps.typing.allow(principal.userId, command.room);
    if (!deliver) this.deps.metrics.refusals.inc({ reason: "typing_throttled" });
    return { ...command, deliver };
  }

  /** leave, presence: the room, once the user may use it. The transport does the rest. */
  authorizeRoom(principal: Principal, input: unknown): RoomCommand {
    return this.validate.room(principal, input);
  }

  /** join, first half: the validated command, before the transport adds the socket to the room. */
  authorizeJoin(principal: Principal, input: unknown, joined: JoinedRooms): JoinCommand {
    try {
      return this.validate.join(principal, input, joined);
    } catch (error) {
      if (error instanceof ChatError && error.code === "LIMIT_REACHED") this.deps.metrics.refusals.inc({ reason: "rooms_per_socket" });
      throw error;
    }
  }

  /** join, second half: the latest seq, and what the user missed since `since`. */
  async joinState(principal: Principal, { room, since }: JoinCommand): Promise<JoinState> {
    this.rememberRoom(principal.userId, room);
    if (since === undefined) return { seq: await this.fromStorage("latest seq", () => this.deps.history.latestSeq(room)) };
    const missed = await this.fromStorage("catch up", () => this.deps.history.since(room, since, CATCH_UP_LIMIT));
    // `changes` only when there are some: a v1 client's join answer stays as it was.
    const changes = missed.changes ?? [];
    return { seq: missed.latest, messages: missed.messages, ...(changes.length > 0 ? { changes } : {}), more: missed.more };
  }

  /** `traceId`: the client action's correlation id (common/trace-id.ts), for the log lines about it here and in the flusher. */
  async send(principal: Principal, input: unknown, traceId?: string): Promise<SendResult> {
    const started = process.hrtime.bigint();
    const { room, clientId, text, meta } = this.validate.send(principal, input);
    // Only for a clientId whose first ack Redis may have let go: a recent UUIDv7 skips this.
    const stored = await this.deps.receipts.ofSend(principal.userId, room, clientId);
    if (stored) return { ...stored, duplicate: true };
    const append = () => this.deps.log.append({ room, from: principal.userId, clientId, text, meta }, traceId);
    const outcome = await this.fromStorage("append", append, traceId);
    switch (outcome.kind) {
      case "duplicate":
        return { ...outcome.receipt, duplicate: true };
      case "rate_limited":
        this.deps.metrics.refusals.inc({ reason: "send_rate" });
        throw new ChatError("RATE_LIMITED", "too many messages, slow down", outcome.retryAfterMs);
      case "buffer_full":
        throw new ChatError("UNAVAILABLE", "the write buffer is full, retry later", BUFFER_FULL_RETRY_AFTER_MS);
      case "stored":
        this.deps.metrics.messagesIn.inc();
        this.deps.metrics.ackLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
        this.deps.publisher.message(outcome.message);
        this.rememberRoom(principal.userId, room);
        return { id: outcome.message.id, seq: outcome.message.seq, ts: outcome.message.ts };
    }
  }

  async history(principal: Principal, input: unknown): Promise<MessagePage> {
    const { room, beforeSeq, limit = HISTORY_DEFAULT_LIMIT } = this.validate.history(principal, input);
    return this.fromStorage("history", () => this.deps.history.page(room, beforeSeq, limit));
  }

  async markRead(principal: Principal, input: unknown): Promise<void> {
    const { room, seq } = this.validate.read(principal, input);
    const latest = await this.fromStorage("latest seq", () => this.deps.history.latestSeq(room));
    // A pointer past the newest message would hide the next messages as already read.
    await this.fromStorage("read pointer", () => this.deps.userRooms.markRead(principal.userId, room, Math.min(seq, latest)));
  }

  /**
   * One page of the user's rooms, most recently used first (then by room id), that the current
   * token still allows. Only the page's rooms are looked up, a few at a time.
   */
  async rooms(principal: Principal, input: unknown): Promise<RoomsPage> {
    const { limit, after } = this.validate.rooms(input);
    const cursor: RoomsCursor | undefined = after === undefined ? undefined : decodeRoomsCursor(after);
    const rows = await this.fromStorage("user rooms", () => this.deps.userRooms.ofUser(principal.userId, ROOMS_SCANNED_MAX));
    // Rooms are remembered when used; a token that lost a room's permission no longer lists it.
    const ordered = rows
      .filter(({ room }) => principal.rooms.allows(principal.userId, room))
      .sort((a, b) => b.activeAt - a.activeAt || (a.room < b.room ? -1 : a.room > b.room ? 1 : 0));
    const start = cursor === undefined ? 0 : ordered.findIndex((row) => isAfterCursor(row, cursor));
    const page = start < 0 ? [] : ordered.slice(start, start + limit);
    const latest = await this.fromStorage("latest seqs", () =>
      mapBounded(page, ROOM_LOOKUP_CONCURRENCY, ({ room }) => this.deps.history.latestSeq(room)),
    );
    // v1.1: seqs number changes too, and unread counts messages only.
    const unread = await this.fromStorage("unread counts", () =>
      mapBounded(
        page.map((row, i) => ({ ...row, lastSeq: latest[i]! })),
        ROOM_LOOKUP_CONCURRENCY,
        ({ room, readSeq, lastSeq }) =>
          this.deps.history.unread?.(room, readSeq, lastSeq) ?? Promise.resolve(Math.max(0, lastSeq - readSeq)),
      ),
    );
    const rooms = page.map(({ room, readSeq }, i) => ({ room, lastSeq: latest[i]!, readSeq, unread: unread[i]! }));
    const last = page[page.length - 1];
    return last !== undefined && start + limit < ordered.length ? { rooms, next: encodeRoomsCursor(last) } : { rooms };
  }

  /**
   * Records the room in the user's room list. Off the ack's critical path: the list is a
   * convenience index, and a failure here must not fail a send that is already durable.
   * Recorded again after REMEMBER_AGAIN_AFTER_MS, which refreshes the pair's activity time.
   */
  private rememberRoom(userId: string, room: string): void {
    const key = `${userId}|${room}`;
    const now = this.now();
    const recordedAt = this.remembered.get(key);
    if (recordedAt !== undefined && now - recordedAt < REMEMBER_AGAIN_AFTER_MS) return;
    // Re-inserted at the end: the Map's order is the order of recording, oldest first.
    this.remembered.delete(key);
    this.remembered.set(key, now);
    if (this.remembered.size > REMEMBERED_ROOMS_MAX) this.remembered.delete(this.remembered.keys().next().value!);
    this.deps.userRooms
      .remember(userId, room)
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: error, "user.id": userId, room }, "could not record the room in the user's list"),
      );
  }

  /** Turns a failure of Redis or Cassandra into UNAVAILABLE: the client may retry. */
  private async fromStorage<T>(what: string, call: () => Promise<T>, traceId?: string): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ChatError) throw error;
      this.deps.logger.warn({ err: error, what, ...traceFields(traceId) }, "storage call failed");
      throw new ChatError("UNAVAILABLE", "storage is unavailable, retry later", STORAGE_RETRY_AFTER_MS);
    }
  }
}
