/**
 * What a user can do with rooms, independent of the transport: the socket events and the
 * REST API both call this, so validation, permissions, limits and the durable send path exist
 * once. Commands arrive as the transport parsed them (`unknown`) and are validated here, in one
 * step per command (commands.ts).
 */
import type { ChatChange } from "../../storage/change.js";
import type { ChatMessage } from "../../storage/message.js";
import { CommandValidator, type JoinCommand, type RoomCommand } from "./commands.js";
import { ChatError } from "./errors.js";
import type { Limits } from "./limits.js";
import { mayUseRoom } from "./names.js";
import type { ChatLogger, ChatMetrics, MessageHistory, MessageLog, MessagePage, RoomPublisher, UserRoomList } from "./ports.js";
import type { Principal } from "./principal.js";

/** At most this many missed messages come back with `join { since }`. */
export const CATCH_UP_LIMIT = 500;
export const HISTORY_DEFAULT_LIMIT = 50;
/** What a client is told to wait when the buffer is full (Cassandra down for a while). */
const BUFFER_FULL_RETRY_AFTER_MS = 2000;
const STORAGE_RETRY_AFTER_MS = 1000;

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

export interface JoinState {
  seq: number;
  messages?: ChatMessage[];
  /** v1.1: the changes among the entries after `since` (PROTOCOL.md "Messages change"). */
  changes?: ChatChange[];
  more?: boolean;
}

export interface ChatServiceDeps {
  publisher: RoomPublisher;
  log: MessageLog;
  history: MessageHistory;
  userRooms: UserRoomList;
  limits: Limits;
  metrics: ChatMetrics;
  logger: ChatLogger;
}

/** Bound on the per-node memory of (user, room) pairs already recorded in the user's room list. */
const REMEMBERED_ROOMS_MAX = 100_000;

export class ChatService {
  /** (user, room) pairs this node already recorded: saves a Cassandra write per send. */
  private readonly remembered = new Set<string>();
  private readonly validate: CommandValidator;

  constructor(private readonly deps: ChatServiceDeps) {
    this.validate = new CommandValidator(deps.limits);
  }

  /** leave, typing, presence: the room, once the user may use it. The transport does the rest. */
  authorizeRoom(principal: Principal, input: unknown): RoomCommand {
    return this.validate.room(principal, input);
  }

  /** join, first half: the validated command, before the transport adds the socket to the room. */
  authorizeJoin(principal: Principal, input: unknown): JoinCommand {
    return this.validate.join(principal, input);
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

  async send(principal: Principal, input: unknown): Promise<SendResult> {
    const started = process.hrtime.bigint();
    const { room, clientId, text, meta } = this.validate.send(principal, input);
    const outcome = await this.fromStorage("append", () => this.deps.log.append({ room, from: principal.userId, clientId, text, meta }));
    switch (outcome.kind) {
      case "duplicate":
        return { ...outcome.receipt, duplicate: true };
      case "rate_limited":
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

  async rooms(principal: Principal, input: unknown): Promise<RoomState[]> {
    this.validate.rooms(input);
    const rooms = await this.fromStorage("user rooms", () => this.deps.userRooms.ofUser(principal.userId));
    // Rooms are remembered when used; a token that lost a room's permission no longer lists it.
    const allowed = rooms.filter(({ room }) => mayUseRoom(principal.userId, principal.roomPatterns, room));
    const latest = await this.fromStorage("latest seqs", () => Promise.all(allowed.map(({ room }) => this.deps.history.latestSeq(room))));
    // v1.1: seqs number changes too, and unread counts messages only.
    const unread = await this.fromStorage("unread counts", () => Promise.all(allowed.map(({ room, readSeq }, i) => this.deps.history.unread?.(room, readSeq, latest[i]!) ?? Math.max(0, latest[i]! - readSeq))));
    return allowed.map(({ room, readSeq }, i) => ({ room, lastSeq: latest[i]!, readSeq, unread: unread[i]! }));
  }

  /**
   * Records the room in the user's room list. Off the ack's critical path: the list is a
   * convenience index, and a failure here must not fail a send that is already durable.
   */
  private rememberRoom(userId: string, room: string): void {
    const key = `${userId}|${room}`;
    if (this.remembered.has(key)) return;
    if (this.remembered.size >= REMEMBERED_ROOMS_MAX) this.remembered.clear();
    this.remembered.add(key);
    this.deps.userRooms.remember(userId, room).catch((error: unknown) => this.deps.logger.warn({ err: error, user: userId, room }, "could not record the room in the user's list"));
  }

  /** Turns a failure of Redis or Cassandra into UNAVAILABLE: the client may retry. */
  private async fromStorage<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ChatError) throw error;
      this.deps.logger.warn({ err: error, what }, "storage call failed");
      throw new ChatError("UNAVAILABLE", "storage is unavailable, retry later", STORAGE_RETRY_AFTER_MS);
    }
  }
}
