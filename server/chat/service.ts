/**
 * What a user can do with rooms, independent of the transport: the socket.io events and the
 * REST API both call this, so permission checks, limits and the durable send path exist once.
 */
import type { Server } from "socket.io";
import type { Logger } from "../../common/logger.js";
import type { UserRooms } from "../../storage/cassandra/user-rooms.js";
import type { History, MessagePage } from "../../storage/history.js";
import type { ChatMessage } from "../../storage/message.js";
import type { MessageBuffer } from "../../storage/stream/producer.js";
import type { Limits } from "../config.js";
import { ChatError } from "../errors.js";
import type { NodeMetrics } from "../metrics.js";
import type { Principal } from "../realtime/auth.js";
import { mayUseRoom } from "../realtime/names.js";

/** At most this many missed messages come back with `join { since }`. */
export const CATCH_UP_LIMIT = 500;
export const HISTORY_DEFAULT_LIMIT = 50;
/** What a client is told to wait when the buffer is full (Cassandra down for a while). */
const BUFFER_FULL_RETRY_AFTER_MS = 2000;
const STORAGE_RETRY_AFTER_MS = 1000;

export interface SendRequest {
  room: string;
  clientId: string;
  text: string;
  meta?: Record<string, unknown> | undefined;
}

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

export interface ChatServiceDeps {
  io: Server;
  buffer: MessageBuffer;
  history: History;
  userRooms: UserRooms;
  limits: Limits;
  metrics: NodeMetrics;
  logger: Logger;
}

/** Bound on the per-node memory of (user, room) pairs already recorded in user_rooms. */
const REMEMBERED_ROOMS_MAX = 100_000;

export class ChatService {
  /** (user, room) pairs this node already recorded: saves a Cassandra write per send. */
  private readonly remembered = new Set<string>();

  constructor(private readonly deps: ChatServiceDeps) {}

  assertMayUseRoom(principal: Principal, room: string): void {
    if (!mayUseRoom(principal.userId, principal.roomPatterns, room)) throw new ChatError("FORBIDDEN", `no permission for room ${room}`);
  }

  async send(principal: Principal, { room, clientId, text, meta }: SendRequest): Promise<SendResult> {
    const started = process.hrtime.bigint();
    this.assertMayUseRoom(principal, room);
    this.checkLimits(clientId, text, meta);
    const outcome = await this.fromStorage("append", () => this.deps.buffer.append({ room, from: principal.userId, clientId, text, meta }));
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
        this.publish(outcome.message);
        this.rememberRoom(principal.userId, room);
        return { id: outcome.message.id, seq: outcome.message.seq, ts: outcome.message.ts };
    }
  }

  async history(principal: Principal, room: string, beforeSeq: number | undefined, limit = HISTORY_DEFAULT_LIMIT): Promise<MessagePage> {
    this.assertMayUseRoom(principal, room);
    return this.fromStorage("history", () => this.deps.history.page(room, beforeSeq, limit));
  }

  /** The state a client needs after joining: the latest seq, and what it missed since `since`. */
  async joinState(principal: Principal, room: string, since: number | undefined): Promise<{ seq: number; messages?: ChatMessage[]; more?: boolean }> {
    this.rememberRoom(principal.userId, room);
    if (since === undefined) return { seq: await this.fromStorage("latest seq", () => this.deps.history.latestSeq(room)) };
    const missed = await this.fromStorage("catch up", () => this.deps.history.since(room, since, CATCH_UP_LIMIT));
    return { seq: missed.latest, messages: missed.messages, more: missed.more };
  }

  async markRead(principal: Principal, room: string, seq: number): Promise<void> {
    this.assertMayUseRoom(principal, room);
    const latest = await this.fromStorage("latest seq", () => this.deps.history.latestSeq(room));
    // A pointer past the newest message would hide the next messages as already read.
    await this.fromStorage("read pointer", () => this.deps.userRooms.markRead(principal.userId, room, Math.min(seq, latest)));
  }

  async rooms(principal: Principal): Promise<RoomState[]> {
    const rooms = await this.fromStorage("user rooms", () => this.deps.userRooms.ofUser(principal.userId));
    // Rooms are remembered when used; a token that lost a room's permission no longer lists it.
    const allowed = rooms.filter(({ room }) => mayUseRoom(principal.userId, principal.roomPatterns, room));
    const latest = await this.fromStorage("latest seqs", () => Promise.all(allowed.map(({ room }) => this.deps.history.latestSeq(room))));
    return allowed.map(({ room, readSeq }, i) => {
      const lastSeq = latest[i]!;
      return { room, lastSeq, readSeq, unread: Math.max(0, lastSeq - readSeq) };
    });
  }

  /** Fan-out to every socket in the room, on every node (Redis adapter). */
  private publish(message: ChatMessage): void {
    this.deps.io.to(message.room).emit("message", message);
    this.deps.metrics.messagesOut.inc();
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

  private checkLimits(clientId: string, text: string, meta: Record<string, unknown> | undefined): void {
    const { limits } = this.deps;
    if (clientId.length > limits.maxClientIdChars) throw new ChatError("BAD_REQUEST", `clientId must be at most ${limits.maxClientIdChars} characters`);
    if (text.length > limits.maxTextChars) throw new ChatError("TOO_LARGE", `text must be at most ${limits.maxTextChars} characters`);
    if (meta !== undefined && metaBytes(meta) > limits.maxMetaBytes) {
      throw new ChatError("TOO_LARGE", `meta must be at most ${limits.maxMetaBytes} bytes as JSON`);
    }
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

/**
 * Size of meta as JSON. A structure nested deeply enough to overflow JSON.stringify's stack is
 * far larger than any limit once serialised, so it counts as too large.
 */
function metaBytes(meta: Record<string, unknown>): number {
  try {
    return Buffer.byteLength(JSON.stringify(meta));
  } catch (error) {
    if (error instanceof RangeError) return Number.POSITIVE_INFINITY;
    throw error;
  }
}
