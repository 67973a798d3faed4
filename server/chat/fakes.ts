/**
 * In-memory fakes of the chat domain's ports (ports.ts), for its unit tests: a message log that
 * behaves like the Redis append script, history over it, user room lists, and recorders.
 */
import type { ChangeReceipt } from "../../storage/change.js";
import type { ChatMessage, NewMessage, SendReceipt } from "../../storage/message.js";
import type {
  AppendOutcome,
  ChatLogger,
  MessageHistory,
  MessageLog,
  MessagePage,
  PresenceChange,
  RefusalCounter,
  RoomPublisher,
  StoredReceipts,
  UserRoomList,
} from "./ports.js";
import { PriorReceipts, type ReceiptWindow } from "./receipts.js";
import type { RefusalReason } from "./limits.js";

/** A message log that assigns seqs per room and remembers idempotency keys, like the Redis script. */
export class InMemoryLog implements MessageLog {
  readonly rooms = new Map<string, ChatMessage[]>();
  readonly appended: NewMessage[] = [];
  private readonly receipts = new Map<string, ChatMessage>();
  /** The next append answers this instead of storing (what the script decides under load). */
  refuseNext: AppendOutcome | undefined;
  failNext: Error | undefined;

  async append(message: NewMessage): Promise<AppendOutcome> {
    this.appended.push(message);
    if (this.failNext) throw this.take("failNext");
    if (this.refuseNext) return this.take("refuseNext");
    const key = `${message.from}|${message.room}|${message.clientId}`;
    const first = this.receipts.get(key);
    if (first) return { kind: "duplicate", receipt: { id: first.id, seq: first.seq, ts: first.ts } };
    const log = this.rooms.get(message.room) ?? [];
    this.rooms.set(message.room, log);
    const stored: ChatMessage = { ...message, id: `id-${message.room}-${log.length + 1}`, seq: log.length + 1, ts: 1_000 + log.length };
    log.push(stored);
    this.receipts.set(key, stored);
    return { kind: "stored", message: stored };
  }

  private take<K extends "refuseNext" | "failNext">(field: K): NonNullable<this[K]> {
    const value = this[field]!;
    this[field] = undefined as this[K];
    return value as NonNullable<this[K]>;
  }
}

export class InMemoryHistory implements MessageHistory {
  failing = false;
  /** latestSeq calls in flight now, and the most ever: how `rooms` spreads its lookups. */
  inFlight = 0;
  maxInFlight = 0;
  latestLookups = 0;
  constructor(private readonly log: InMemoryLog) {}

  async latestSeq(room: string): Promise<number> {
    this.latestLookups += 1;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      return this.latestNow(room);
    } finally {
      this.inFlight -= 1;
    }
  }

  private latestNow(room: string): number {
    return this.messages(room).length;
  }

  async page(room: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage> {
    const below = this.messages(room).filter((m) => beforeSeq === undefined || m.seq < beforeSeq);
    return { messages: below.slice(-limit), more: below.length > limit };
  }

  async since(room: string, afterSeq: number, limit: number): Promise<MessagePage & { latest: number }> {
    const after = this.messages(room).filter((m) => m.seq > afterSeq);
    return { messages: after.slice(0, limit), more: after.length > limit, latest: this.messages(room).length };
  }

  private messages(room: string): ChatMessage[] {
    if (this.failing) throw new Error("connection refused (Cassandra down)");
    return this.log.rooms.get(room) ?? [];
  }
}

export class InMemoryUserRooms implements UserRoomList {
  readonly pointers = new Map<string, Map<string, number>>();
  /** user → room → when it was last remembered (what Cassandra's joined_at holds). */
  readonly activity = new Map<string, Map<string, number>>();
  failing = false;
  remembers = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async remember(userId: string, room: string): Promise<void> {
    if (this.failing) throw new Error("Cassandra down");
    this.remembers += 1;
    const rooms = this.pointers.get(userId) ?? new Map<string, number>();
    this.pointers.set(userId, rooms);
    if (!rooms.has(room)) rooms.set(room, 0);
    const active = this.activity.get(userId) ?? new Map<string, number>();
    this.activity.set(userId, active);
    active.set(room, this.now());
  }

  async markRead(userId: string, room: string, seq: number): Promise<void> {
    if (this.failing) throw new Error("Cassandra down");
    // Like the Cassandra UPDATE: creates the row, without an activity time, if it is missing.
    const rooms = this.pointers.get(userId) ?? new Map<string, number>();
    this.pointers.set(userId, rooms);
    if (seq > (rooms.get(room) ?? 0)) rooms.set(room, seq);
  }

  async ofUser(userId: string, atMost: number): Promise<{ room: string; readSeq: number; activeAt: number }[]> {
    if (this.failing) throw new Error("Cassandra down");
    const active = this.activity.get(userId);
    // Cassandra returns a partition in clustering (room) order.
    return [...(this.pointers.get(userId) ?? new Map<string, number>())]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .slice(0, atMost)
      .map(([room, readSeq]) => ({ room, readSeq, activeAt: active?.get(room) ?? 0 }));
  }
}

export class RecordingPublisher implements RoomPublisher {
  readonly messages: ChatMessage[] = [];
  readonly presenceChanges: PresenceChange[] = [];
  message(message: ChatMessage): void {
    this.messages.push(message);
  }
  presence(change: PresenceChange): void {
    this.presenceChanges.push(change);
  }
}

export class RecordingLogger implements ChatLogger {
  readonly lines: string[] = [];
  warn(fields: Record<string, unknown>, message: string): void {
    this.lines.push(`${message} ${JSON.stringify(fields, (_key, value: unknown) => (value instanceof Error ? value.message : value))}`);
  }
}

/** Counts refusals by reason. */
export class RecordingRefusals implements RefusalCounter {
  readonly counts = new Map<RefusalReason, number>();
  inc({ reason }: { reason: RefusalReason }): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }
}

/** Receipts Cassandra would hold: keyed "<user>|<room>|<clientId>"; counts its lookups. */
export class InMemoryStoredReceipts implements StoredReceipts {
  readonly sends = new Map<string, SendReceipt>();
  readonly changes = new Map<string, ChangeReceipt>();
  lookups = 0;
  failNext: Error | undefined;

  async sendReceipt(from: string, room: string, clientId: string): Promise<SendReceipt | undefined> {
    return this.read(this.sends, `${from}|${room}|${clientId}`);
  }

  async changeReceipt(by: string, room: string, clientId: string): Promise<ChangeReceipt | undefined> {
    return this.read(this.changes, `${by}|${room}|${clientId}`);
  }

  private read<T>(receipts: Map<string, T>, key: string): T | undefined {
    this.lookups++;
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
    return receipts.get(key);
  }
}

/** The production defaults (storage/config.ts): W 15 min, S 5 min, TTL 24 h. */
export const DEFAULT_RECEIPT_WINDOW: ReceiptWindow = {
  windowInMs: 15 * 60_000,
  idempotencyTtlInMs: 24 * 60 * 60_000,
  clientClockSkewInMs: 5 * 60_000,
};

/** PriorReceipts over an empty in-memory store: every send is decided by the log, as before receipts moved. */
export function noStoredReceipts(logger: ChatLogger = new RecordingLogger()): PriorReceipts {
  return new PriorReceipts(new InMemoryStoredReceipts(), DEFAULT_RECEIPT_WINDOW, logger);
}
