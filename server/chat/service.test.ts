/**
 * ChatService against in-memory fakes of its ports: permissions, limits, the message log's
 * answers (stored, duplicate, rate limited, buffer full), storage failures, read pointers and
 * the rooms list. The real storage classes are covered by the integration suites.
 */
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { ChatError, type ErrorCode } from "./errors.js";
import { EventBudget } from "./event-budget.js";
import {
  InMemoryHistory,
  noStoredReceipts,
  InMemoryLog,
  InMemoryUserRooms,
  RecordingLogger,
  RecordingPublisher,
  RecordingRefusals,
} from "./fakes.js";
import { DEFAULT_LIMITS, type Limits } from "./limits.js";
import type { Principal } from "./principal.js";
import { RoomAccess } from "./room-access.js";
import { ChatService } from "./service.js";
import { TypingThrottle } from "./typing-throttle.js";

const alice: Principal = { userId: "alice", rooms: RoomAccess.compile(["team-7:*", "lobby"]), expiresAt: Date.now() + 3_600_000 };
/** A socket that has joined nothing yet. */
const noRooms = { has: () => false, count: 0 };
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
  const metrics = {
    messagesIn: { inc: () => void (counted.in += 1) },
    ackLatency: { observe: (seconds: number) => void counted.latencies.push(seconds) },
    refusals: new RecordingRefusals(),
  };
  const eventBudget = new EventBudget(limits.eventsPerSecond, limits.eventBurst);
  chat = new ChatService({
    publisher,
    log,
    history,
    receipts: noStoredReceipts(),
    userRooms,
    limits,
    metrics,
    logger,
    eventBudget,
    typing: new TypingThrottle(limits.typingIntervalInMs),
  });
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
  assert.deepEqual(
    log.appended,
    [{ room: "lobby", from: "alice", clientId: "c1", text: "hi", meta: { k: 1 } }],
    "unknown fields are dropped, from is the token's user",
  );
  assert.deepEqual(
    publisher.messages.map((m) => [m.room, m.seq]),
    [["lobby", 1]],
  );
  assert.equal(counted.in, 1);
  assert.equal(counted.latencies.length, 1);
  assert.deepEqual(
    (await userRooms.ofUser("alice", 10)).map(({ room, readSeq }) => ({ room, readSeq })),
    [{ room: "lobby", readSeq: 0 }],
  );
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
  assert.equal(await code(() => chat.authorizeJoin(alice, { room }, noRooms)), "FORBIDDEN");
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
  assert.ok(
    logger.lines.every((line) => !line.includes("s3cr3t")),
    logger.lines.join("\n"),
  );
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
  const wide: Principal = { ...alice, rooms: RoomAccess.compile(["team-7:*", "lobby", "old-room"]) };
  await chat.send(wide, { room: "old-room", clientId: "c1", text: "hi" });
  await chat.send(wide, { room: "lobby", clientId: "c1", text: "one" });
  await chat.send(wide, { room: "lobby", clientId: "c2", text: "two" });
  await chat.markRead(wide, { room: "lobby", seq: 1 });
  assert.deepEqual(await chat.rooms(alice, undefined), { rooms: [{ room: "lobby", lastSeq: 2, readSeq: 1, unread: 1 }] });
  assert.equal((await chat.rooms(wide, {})).rooms.length, 2);
});

test("join returns the latest seq, or what was missed since `since`; history pages newest first", async () => {
  for (const clientId of ["c1", "c2", "c3"]) await chat.send(alice, { room: "team-7:a", clientId, text: clientId });
  const join = chat.authorizeJoin(alice, { room: "team-7:a", since: 1 }, noRooms);
  const state = await chat.joinState(alice, join);
  assert.deepEqual([state.seq, state.messages?.map((m) => m.seq), state.more], [3, [2, 3], false]);
  assert.deepEqual(await chat.joinState(alice, chat.authorizeJoin(alice, { room: "team-7:a" }, noRooms)), { seq: 3 });
  const page = await chat.history(alice, { room: "team-7:a", beforeSeq: 3, limit: 1 });
  assert.deepEqual([page.messages.map((m) => m.seq), page.more], [[2], true]);
});
