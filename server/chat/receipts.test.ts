/**
 * When a send or a change must ask Cassandra for its first ack (receipts.ts): the UUIDv7 parse,
 * the rule at the edges of the window, future and foreign ids; and how ChatService and
 * MessageChanges use the answer, on in-memory fakes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { uuidV7 } from "../../client/client-id.js";
import { MessageChanges } from "./changes.js";
import { EventBudget } from "./event-budget.js";
import {
  DEFAULT_RECEIPT_WINDOW,
  InMemoryHistory,
  InMemoryLog,
  InMemoryStoredReceipts,
  InMemoryUserRooms,
  RecordingLogger,
  RecordingPublisher,
  RecordingRefusals,
} from "./fakes.js";
import { DEFAULT_LIMITS } from "./limits.js";
import type { ChangeLog, ChangeOutcome } from "./ports.js";
import type { Principal } from "./principal.js";
import { mustAskStoredReceipts, PriorReceipts, uuidV7Millis, type ReceiptWindow } from "./receipts.js";
import { RoomAccess } from "./room-access.js";
import { ChatService } from "./service.js";
import { TypingThrottle } from "./typing-throttle.js";

const NOW = 1_750_000_000_000;
const W = DEFAULT_RECEIPT_WINDOW.windowInMs;
const S = DEFAULT_RECEIPT_WINDOW.clientClockSkewInMs;
const madeAgo = (ms: number) => uuidV7(NOW - ms);
const ask = (clientId: string, window: ReceiptWindow = DEFAULT_RECEIPT_WINDOW) => mustAskStoredReceipts(clientId, NOW, window);

test("uuidV7Millis reads the time of a UUIDv7, in either case, and nothing else", () => {
  assert.equal(uuidV7Millis(uuidV7(NOW)), NOW);
  assert.equal(uuidV7Millis(uuidV7(NOW).toUpperCase()), NOW);
  for (const other of [
    "same",
    "",
    "0190b7e2-5c3a-4f1e-9a4b-3c2d1e0f9a8b", // version 4
    "0190b7e2-5c3a-7f1e-ca4b-3c2d1e0f9a8b", // variant 110
    "0190b7e25c3a7f1e9a4b3c2d1e0f9a8b", // no dashes
    ` ${uuidV7(NOW)}`,
    `${uuidV7(NOW)}x`,
  ]) {
    assert.equal(uuidV7Millis(other), undefined, other);
  }
});

test("a UUIDv7 made within [-S, W - S) of now is decided by Redis alone", () => {
  assert.equal(ask(madeAgo(0)), false, "made now");
  assert.equal(ask(madeAgo(-S)), false, "S in the future: the edge is in");
  assert.equal(ask(madeAgo(W - S - 1)), false, "1 ms before W - S");
});

test("a UUIDv7 outside [-S, W - S), or any other clientId, asks Cassandra first", () => {
  assert.equal(ask(madeAgo(W - S)), true, "exactly W - S old: the edge is out");
  assert.equal(ask(madeAgo(W)), true, "W old");
  assert.equal(ask(madeAgo(23 * 60 * 60_000)), true, "23 h old");
  assert.equal(ask(madeAgo(-S - 1)), true, "more than S in the future: the clock is off by more than S");
  assert.equal(ask(madeAgo(-365 * 24 * 60 * 60_000)), true, "a year ahead");
  assert.equal(ask("same"), true, "not a UUID");
  assert.equal(ask("0190b7e2-5c3a-4f1e-9a4b-3c2d1e0f9a8b"), true, "a UUIDv4");
});

test("an idempotency TTL shorter than W is the window", () => {
  const window = { ...DEFAULT_RECEIPT_WINDOW, idempotencyTtlInMs: S + 1000 };
  assert.equal(ask(madeAgo(999), window), false);
  assert.equal(ask(madeAgo(1000), window), true, "past TTL - S: Redis may have let the receipt expire");
});

test("with no skew allowed the window is [0, W)", () => {
  const window = { ...DEFAULT_RECEIPT_WINDOW, clientClockSkewInMs: 0 };
  assert.equal(ask(madeAgo(0), window), false);
  assert.equal(ask(madeAgo(-1), window), true);
  assert.equal(ask(madeAgo(W - 1), window), false);
  assert.equal(ask(madeAgo(W), window), true);
});

const alice: Principal = { userId: "alice", rooms: RoomAccess.compile(["lobby"]), expiresAt: Date.now() + 3_600_000 };

function chatWith(stored: InMemoryStoredReceipts, logger = new RecordingLogger()) {
  const log = new InMemoryLog();
  const receipts = new PriorReceipts(stored, DEFAULT_RECEIPT_WINDOW, logger);
  const chat = new ChatService({
    publisher: new RecordingPublisher(),
    log,
    history: new InMemoryHistory(log),
    receipts,
    userRooms: new InMemoryUserRooms(),
    limits: DEFAULT_LIMITS,
    metrics: { messagesIn: { inc: () => undefined }, ackLatency: { observe: () => undefined }, refusals: new RecordingRefusals() },
    logger,
    eventBudget: new EventBudget(DEFAULT_LIMITS.eventsPerSecond, DEFAULT_LIMITS.eventBurst),
    typing: new TypingThrottle(DEFAULT_LIMITS.typingIntervalInMs),
  });
  return { chat, log, logger };
}

test("send: a stored receipt of an old clientId is the answer, marked duplicate, and nothing is appended", async () => {
  const stored = new InMemoryStoredReceipts();
  stored.sends.set("alice|lobby|old", { id: "first-id", seq: 3, ts: 42 });
  const { chat, log } = chatWith(stored);
  assert.deepEqual(await chat.send(alice, { room: "lobby", clientId: "old", text: "again" }), {
    id: "first-id",
    seq: 3,
    ts: 42,
    duplicate: true,
  });
  assert.equal(log.appended.length, 0);
});

test("send: no stored receipt goes on to the log; a recent UUIDv7 does not look", async () => {
  const stored = new InMemoryStoredReceipts();
  const { chat, log } = chatWith(stored);
  const first = await chat.send(alice, { room: "lobby", clientId: "new", text: "hi" });
  assert.equal(first.duplicate, undefined);
  assert.equal(stored.lookups, 1);
  await chat.send(alice, { room: "lobby", clientId: uuidV7(), text: "hi" });
  assert.equal(stored.lookups, 1, "a UUIDv7 made now never asks Cassandra");
  assert.equal(log.appended.length, 2);
});

test("send: a failed lookup leaves the decision to the log (sends go on through a Cassandra outage)", async () => {
  const stored = new InMemoryStoredReceipts();
  stored.failNext = new Error("no host available");
  const { chat, log, logger } = chatWith(stored);
  const ack = await chat.send(alice, { room: "lobby", clientId: "during-outage", text: "hi" });
  assert.equal(ack.seq, 1);
  assert.equal(log.appended.length, 1);
  assert.equal(logger.lines.length, 1);
  assert.doesNotMatch(logger.lines[0]!, /during-outage/, "no clientId in the log line");
});

test("changes: a stored receipt of an old clientId is the answer, marked duplicate, and nothing is appended", async () => {
  const stored = new InMemoryStoredReceipts();
  stored.changes.set("alice|lobby|old-edit", { seq: 9, ts: 77 });
  const requests: unknown[] = [];
  const log: ChangeLog = {
    append: async (request): Promise<ChangeOutcome> => {
      requests.push(request);
      return { kind: "not_found" };
    },
  };
  const changes = new MessageChanges({
    log,
    receipts: new PriorReceipts(stored, DEFAULT_RECEIPT_WINDOW, new RecordingLogger()),
    publisher: { change: () => undefined },
    limits: DEFAULT_LIMITS,
    logger: new RecordingLogger(),
  });
  const id = "01HF7YAT00000007ABCDEFGHJK";
  assert.deepEqual(await changes.edit(alice, { room: "lobby", id, clientId: "old-edit", text: "x" }), { seq: 9, ts: 77, duplicate: true });
  assert.equal(requests.length, 0);
  // The same clientId as a send's is another namespace: not found there, so the log decides.
  stored.sends.set("alice|lobby|old-send", { id, seq: 7, ts: 1 });
  await assert.rejects(changes.delete(alice, { room: "lobby", id, clientId: "old-send" }), { code: "NOT_FOUND" });
  assert.equal(requests.length, 1);
});
