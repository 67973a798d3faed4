/**
 * ChatService against in-memory fakes of its ports: permissions, limits, the message log's
 * answers (stored, duplicate, rate limited, buffer full), storage failures, read pointers and
 * the rooms list. The real storage classes are covered by the integration suites.
 */
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import type { ChatMessage, NewMessage } from "../../storage/message.js";
import { ChatError, type ErrorCode } from "./errors.js";
import { DEFAULT_LIMITS, type Limits } from "./limits.js";
import type { AppendOutcome, ChatLogger, MessageHistory, MessageLog, MessagePage, PresenceChange, RoomPublisher, UserRoomList } from "./ports.js";
import type { Principal } from "./principal.js";
import { ChatService } from "./service.js";

/** A message log that assigns seqs per room and remembers idempotency keys, like the Redis script. */
class InMemoryLog implements MessageLog {
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

class InMemoryHistory implements MessageHistory {
  failing = false;
  constructor(private readonly log: InMemoryLog) {}

  async latestSeq(room: string): Promise<number> {
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

class InMemoryUserRooms implements UserRoomList {
  readonly pointers = new Map<string, Map<string, number>>();
  failing = false;

  async remember(userId: string, room: string): Promise<void> {
    if (this.failing) throw new Error("Cassandra down");
    const rooms = this.pointers.get(userId) ?? new Map<string, number>();
    this.pointers.set(userId, rooms);
    if (!rooms.has(room)) rooms.set(room, 0);
  }

  async markRead(userId: string, room: string, seq: number): Promise<void> {
    if (this.failing) throw new Error("Cassandra down");
    await this.remember(userId, room);
    const rooms = this.pointers.get(userId)!;
    if (seq > rooms.get(room)!) rooms.set(room, seq);
  }

  async ofUser(userId: string): Promise<{ room: string; readSeq: number }[]> {
    if (this.failing) throw new Error("Cassandra down");
    return [...(this.pointers.get(userId) ?? new Map<string, number>())].map(([room, readSeq]) => ({ room, readSeq }));
  }
}

class RecordingPublisher implements RoomPublisher {
  readonly messages: ChatMessage[] = [];
  readonly presenceChanges: PresenceChange[] = [];
  message(message: ChatMessage): void {
    this.messages.push(message);
  }
  presence(change: PresenceChange): void {
    this.presenceChanges.push(change);
  }
}

class RecordingLogger implements ChatLogger {
  readonly lines: string[] = [];
  warn(fields: Record<string, unknown>, message: string): void {
    this.lines.push(`${message} ${JSON.stringify(fields, (_key, value: unknown) => (value instanceof Error ? value.message : value))}`);
  }
}

const alice: Principal = { userId: "alice", roomPatterns: ["team-7:*", "lobby"], expiresAt: Date.now() + 3_600_000 };
const limits: Limits = { ...DEFAULT_LIMITS, maxTextChars: 10, maxMetaBytes: 20, maxClientIdChars: 8 };

let log: InMemoryLog;
let history: InMemoryHistory;
let userRooms: InMemoryUserRooms;
let publisher: RecordingPublisher;
let logger: RecordingLogger;
let counted: { in: number; latencies: number[] };
let chat: ChatService;

beforeEach(() => {
  log = new InMemoryLog();
  history = new InMemoryHistory(log);
  userRooms = new InMemoryUserRooms();
  publisher = new RecordingPublisher();
  logger = new RecordingLogger();
  counted = { in: 0, latencies: [] };
  const metrics = { messagesIn: { inc: () => void (counted.in += 1) }, ackLatency: { observe: (seconds: number) => void counted.latencies.push(seconds) } };
  chat = new ChatService({ publisher, log, history, userRooms, limits, metrics, logger });
});

async function refusal(call: Promise<unknown> | (() => unknown)): Promise<ChatError> {
  try {
    await (typeof call === "function" ? call() : call);
  } catch (error) {
    assert.ok(error instanceof ChatError, `not a ChatError: ${String(error)}`);
    return error;
  }
  assert.fail("the call succeeded");
}

async function code(call: Promise<unknown> | (() => unknown)): Promise<ErrorCode> {
  return (await refusal(call)).code;
}

test("a stored send is acknowledged with its receipt, published once to its room, counted and remembered", async () => {
  const result = await chat.send(alice, { room: "lobby", clientId: "c1", text: "hi", meta: { k: 1 }, extra: "ignored" });
  assert.deepEqual(result, { id: "id-lobby-1", seq: 1, ts: 1_000 });
  assert.deepEqual(log.appended, [{ room: "lobby", from: "alice", clientId: "c1", text: "hi", meta: { k: 1 } }], "unknown fields are dropped, from is the token's user");
  assert.deepEqual(publisher.messages.map((m) => [m.room, m.seq]), [["lobby", 1]]);
  assert.equal(counted.in, 1);
  assert.equal(counted.latencies.length, 1);
  assert.deepEqual(await userRooms.ofUser("alice"), [{ room: "lobby", readSeq: 0 }]);
});

test("a duplicate clientId answers the first receipt with duplicate: true, and is neither published nor counted again", async () => {
  const first = await chat.send(alice, { room: "lobby", clientId: "c1", text: "hi" });
  const again = await chat.send(alice, { room: "lobby", clientId: "c1", text: "hi" });
  assert.deepEqual(again, { ...first, duplicate: true });
  assert.equal(publisher.messages.length, 1);
  assert.equal(counted.in, 1);
});

test("a room the token does not allow is FORBIDDEN for every command, and nothing reaches storage", async () => {
  const room = "team-8:general";
  assert.equal(await code(chat.send(alice, { room, clientId: "c1", text: "hi" })), "FORBIDDEN");
  assert.equal(await code(chat.history(alice, { room })), "FORBIDDEN");
  assert.equal(await code(chat.markRead(alice, { room, seq: 1 })), "FORBIDDEN");
  assert.equal(await code(() => chat.authorizeJoin(alice, { room })), "FORBIDDEN");
  assert.equal(await code(() => chat.authorizeRoom(alice, { room })), "FORBIDDEN");
  assert.equal(log.appended.length, 0);
  assert.equal(userRooms.pointers.size, 0);
  // A DM room of the user is allowed without a claim; another pair's is not.
  assert.deepEqual(chat.authorizeRoom(alice, { room: "dm:alice:bob" }), { room: "dm:alice:bob" });
  assert.equal(await code(() => chat.authorizeRoom(alice, { room: "dm:bob:carol" })), "FORBIDDEN");
});

test("malformed payloads are BAD_REQUEST with the field named, before permission or size", async () => {
  const missingText = await refusal(chat.send(alice, { room: "lobby", clientId: "c1" }));
  assert.equal(missingText.code, "BAD_REQUEST");
  assert.match(missingText.message, /^text: /);
  assert.equal(await code(chat.send(alice, "not an object")), "BAD_REQUEST");
  assert.equal(await code(chat.send(alice, { room: "bad room!", clientId: "c1", text: "hi" })), "BAD_REQUEST");
  assert.equal(await code(chat.send(alice, { room: "lobby", clientId: "", text: "hi" })), "BAD_REQUEST");
  assert.equal(await code(chat.history(alice, { room: "lobby", limit: 101 })), "BAD_REQUEST");
  assert.equal(await code(chat.markRead(alice, { room: "lobby", seq: -1 })), "BAD_REQUEST");
  assert.equal(await code(chat.rooms(alice, [])), "BAD_REQUEST");
  // A forbidden room with a mistyped field: the shape is checked first.
  assert.equal(await code(chat.send(alice, { room: "team-8:x", clientId: "c1", text: 5 })), "BAD_REQUEST");
  assert.equal(log.appended.length, 0);
});

test("sizes: text and meta over their limits are TOO_LARGE, a long clientId BAD_REQUEST, at the limit they pass", async () => {
  assert.equal(await code(chat.send(alice, { room: "lobby", clientId: "c1", text: "x".repeat(11) })), "TOO_LARGE");
  assert.equal(await code(chat.send(alice, { room: "lobby", clientId: "c1", text: "hi", meta: { note: "x".repeat(20) } })), "TOO_LARGE");
  assert.equal(await code(chat.send(alice, { room: "lobby", clientId: "c".repeat(9), text: "hi" })), "BAD_REQUEST");
  // Nested deeper than JSON.stringify's stack: too large, not a crash.
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 100_000; i++) deep = { d: deep };
  assert.equal(await code(chat.send(alice, { room: "lobby", clientId: "c1", text: "hi", meta: deep })), "TOO_LARGE");
  // Permission before size: a too-long text to a forbidden room is FORBIDDEN.
  assert.equal(await code(chat.send(alice, { room: "team-8:x", clientId: "c1", text: "x".repeat(11) })), "FORBIDDEN");
  assert.equal(log.appended.length, 0);
  // {"n":"…"} with 12 characters is exactly 20 bytes.
  const ok = await chat.send(alice, { room: "lobby", clientId: "c".repeat(8), text: "x".repeat(10), meta: { n: "x".repeat(12) } });
  assert.equal(ok.seq, 1);
});

test("the log's rate-limit and buffer-full answers become RATE_LIMITED and UNAVAILABLE with their waits; nothing is published", async () => {
  log.refuseNext = { kind: "rate_limited", retryAfterMs: 350 };
  const limited = await refusal(chat.send(alice, { room: "lobby", clientId: "c1", text: "hi" }));
  assert.deepEqual([limited.code, limited.retryAfterMs], ["RATE_LIMITED", 350]);
  log.refuseNext = { kind: "buffer_full" };
  const full = await refusal(chat.send(alice, { room: "lobby", clientId: "c2", text: "hi" }));
  assert.deepEqual([full.code, full.retryAfterMs], ["UNAVAILABLE", 2000]);
  assert.equal(publisher.messages.length, 0);
  assert.equal(counted.in, 0);
});

test("storage failures are UNAVAILABLE with a retry hint, logged without the message text", async () => {
  log.failNext = new Error("ECONNREFUSED 127.0.0.1:6379");
  const append = await refusal(chat.send(alice, { room: "lobby", clientId: "c1", text: "s3cr3t" }));
  assert.deepEqual([append.code, append.retryAfterMs], ["UNAVAILABLE", 1000]);
  history.failing = true;
  assert.equal(await code(chat.history(alice, { room: "lobby" })), "UNAVAILABLE");
  assert.equal(await code(chat.markRead(alice, { room: "lobby", seq: 1 })), "UNAVAILABLE");
  assert.equal(await code(chat.joinState(alice, { room: "lobby", since: 0 })), "UNAVAILABLE");
  history.failing = false;
  userRooms.failing = true;
  assert.equal(await code(chat.rooms(alice, {})), "UNAVAILABLE");
  assert.equal(logger.lines.length, 5);
  assert.ok(logger.lines.every((line) => !line.includes("s3cr3t")), logger.lines.join("\n"));
});

test("a send stays acknowledged when recording the room in the user's list fails", async () => {
  userRooms.failing = true;
  const result = await chat.send(alice, { room: "lobby", clientId: "c1", text: "hi" });
  assert.equal(result.seq, 1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(logger.lines.length, 1);
  assert.match(logger.lines[0]!, /could not record the room/);
});

test("the read pointer is clamped to the room's latest seq and never moves back", async () => {
  for (const clientId of ["c1", "c2", "c3"]) await chat.send(alice, { room: "lobby", clientId, text: "hi" });
  await chat.markRead(alice, { room: "lobby", seq: 99 });
  assert.equal(userRooms.pointers.get("alice")!.get("lobby"), 3);
  await chat.markRead(alice, { room: "lobby", seq: 1 });
  assert.equal(userRooms.pointers.get("alice")!.get("lobby"), 3);
});

test("rooms lists only the rooms the current token allows, with unread counts", async () => {
  const wide: Principal = { ...alice, roomPatterns: ["team-7:*", "lobby", "old-room"] };
  await chat.send(wide, { room: "old-room", clientId: "c1", text: "hi" });
  await chat.send(wide, { room: "lobby", clientId: "c1", text: "one" });
  await chat.send(wide, { room: "lobby", clientId: "c2", text: "two" });
  await chat.markRead(wide, { room: "lobby", seq: 1 });
  assert.deepEqual(await chat.rooms(alice, undefined), [{ room: "lobby", lastSeq: 2, readSeq: 1, unread: 1 }]);
  assert.equal((await chat.rooms(wide, {})).length, 2);
});

test("join returns the latest seq, or what was missed since `since`; history pages newest first", async () => {
  for (const clientId of ["c1", "c2", "c3"]) await chat.send(alice, { room: "team-7:a", clientId, text: clientId });
  const join = chat.authorizeJoin(alice, { room: "team-7:a", since: 1 });
  const state = await chat.joinState(alice, join);
  assert.deepEqual([state.seq, state.messages?.map((m) => m.seq), state.more], [3, [2, 3], false]);
  assert.deepEqual(await chat.joinState(alice, chat.authorizeJoin(alice, { room: "team-7:a" })), { seq: 3 });
  const page = await chat.history(alice, { room: "team-7:a", beforeSeq: 3, limit: 1 });
  assert.deepEqual([page.messages.map((m) => m.seq), page.more], [[2], true]);
});
