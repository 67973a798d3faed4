/**
 * The limits ChatService applies (docs/protocol.md v1.1 "Limits"), on in-memory fakes of its ports:
 * the event budget, the typing throttle, the rooms-per-socket cap, `rooms` paging with bounded
 * lookups, and the bounded memory of rooms already recorded.
 */
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { ChatError } from "./errors.js";
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

const limits: Limits = { ...DEFAULT_LIMITS, eventsPerSecond: 5, eventBurst: 10, roomsPerSocket: 3 };
const alice: Principal = { userId: "alice", rooms: RoomAccess.compile(["*"]), expiresAt: Date.now() + 3_600_000 };

let clock: { now: number };
let log: InMemoryLog;
let history: InMemoryHistory;
let userRooms: InMemoryUserRooms;
let refusals: RecordingRefusals;
let chat: ChatService;

beforeEach(() => {
  clock = { now: 1_000_000 };
  const now = () => clock.now;
  log = new InMemoryLog();
  history = new InMemoryHistory(log);
  userRooms = new InMemoryUserRooms(now);
  refusals = new RecordingRefusals();
  const metrics = { messagesIn: { inc: () => undefined }, ackLatency: { observe: () => undefined }, refusals };
  chat = new ChatService({
    publisher: new RecordingPublisher(),
    log,
    history,
    receipts: noStoredReceipts(),
    userRooms,
    limits,
    metrics,
    logger: new RecordingLogger(),
    eventBudget: new EventBudget(limits.eventsPerSecond, limits.eventBurst, now),
    typing: new TypingThrottle(limits.typingIntervalInMs, now),
    now,
  });
});

function refusal(call: () => unknown): ChatError {
  try {
    call();
  } catch (error) {
    assert.ok(error instanceof ChatError, `not a ChatError: ${String(error)}`);
    return error;
  }
  assert.fail("the call succeeded");
}

async function asyncRefusal(call: Promise<unknown>): Promise<ChatError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof ChatError, `not a ChatError: ${String(error)}`);
    return error;
  }
  assert.fail("the call succeeded");
}

test("every event draws on the user's budget: past the burst, RATE_LIMITED with retryAfterMs, counted by reason", () => {
  for (let i = 0; i < 10; i++) chat.admit(alice);
  const refused = refusal(() => chat.admit(alice));
  assert.deepEqual([refused.code, refused.retryAfterMs], ["RATE_LIMITED", 200]);
  assert.equal(refusals.counts.get("event_rate"), 1);
  clock.now += 200;
  chat.admit(alice);
});

test("typing is delivered at most once per user and room per interval; the rest are acknowledged, not delivered, and counted", () => {
  assert.deepEqual(chat.typing(alice, { room: "lobby" }), { room: "lobby", deliver: true });
  assert.deepEqual(chat.typing(alice, { room: "lobby" }), { room: "lobby", deliver: false });
  assert.equal(chat.typing(alice, { room: "other" }).deliver, true);
  clock.now += limits.typingIntervalInMs;
  assert.equal(chat.typing(alice, { room: "lobby" }).deliver, true);
  assert.equal(refusals.counts.get("typing_throttled"), 1);
  // Validation still comes first: a forbidden room is FORBIDDEN, not silently dropped.
  const bob: Principal = { userId: "bob", rooms: RoomAccess.compile([]), expiresAt: alice.expiresAt };
  assert.equal(refusal(() => chat.typing(bob, { room: "lobby" })).code, "FORBIDDEN");
});

test("a socket joins at most roomsPerSocket rooms: LIMIT_REACHED past it, a room it already joined still passes", () => {
  const joined = new Set(["a", "b", "c"]);
  const socketRooms = { has: (room: string) => joined.has(room), count: joined.size };
  const refused = refusal(() => chat.authorizeJoin(alice, { room: "d" }, socketRooms));
  assert.equal(refused.code, "LIMIT_REACHED");
  assert.match(refused.message, /at most 3 rooms/);
  assert.deepEqual(chat.authorizeJoin(alice, { room: "b", since: 0 }, socketRooms), { room: "b", since: 0 });
  assert.deepEqual(chat.authorizeJoin(alice, { room: "d" }, { has: () => false, count: 2 }), { room: "d" });
  assert.equal(refusals.counts.get("rooms_per_socket"), 1);
});

/** The user joined rooms room-0 … room-(n-1), one a second, so room-(n-1) is the most recent. */
async function joinRooms(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    clock.now += 1000;
    await chat.joinState(alice, { room: `room-${String(i).padStart(3, "0")}` });
  }
  await new Promise((resolve) => setImmediate(resolve));
}

test("rooms come in pages, most recent activity first, with a cursor to the next; only the page's rooms are looked up, a few at a time", async () => {
  await joinRooms(250);
  history.latestLookups = 0;
  const first = await chat.rooms(alice, undefined);
  assert.equal(first.rooms.length, 100, "the default page is 100");
  assert.equal(first.rooms[0]!.room, "room-249");
  assert.equal(first.rooms[99]!.room, "room-150");
  assert.equal(history.latestLookups, 100, "one lookup per room of the page, none for the others");
  assert.ok(history.maxInFlight <= 16, `${history.maxInFlight} lookups in flight at once`);
  const second = await chat.rooms(alice, { limit: 100, after: first.next });
  assert.deepEqual([second.rooms[0]!.room, second.rooms[99]!.room], ["room-149", "room-050"]);
  const last = await chat.rooms(alice, { limit: 200, after: second.next });
  assert.equal(last.rooms.length, 50);
  assert.equal(last.next, undefined, "no cursor on the last page");
  const all = [...first.rooms, ...second.rooms, ...last.rooms].map(({ room }) => room);
  assert.equal(new Set(all).size, 250, "every room exactly once");
});

test("rooms: a limit outside 1..200 or a cursor this server did not make is BAD_REQUEST", async () => {
  for (const input of [
    { limit: 0 },
    { limit: 201 },
    { limit: 1.5 },
    { after: "nope" },
    { after: Buffer.from('[1,"bad room!"]').toString("base64url") },
    { after: 7 },
  ]) {
    assert.equal((await asyncRefusal(chat.rooms(alice, input))).code, "BAD_REQUEST", JSON.stringify(input));
  }
});

test("a room used again is recorded again after a while (its activity moves), not on every use; the node's memory of recorded rooms is bounded", async () => {
  await chat.joinState(alice, { room: "lobby" });
  await chat.send(alice, { room: "lobby", clientId: "c1", text: "hi" });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(userRooms.remembers, 1, "once per pair while it is fresh");
  clock.now += 5 * 60_000;
  await chat.send(alice, { room: "lobby", clientId: "c2", text: "hi" });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(userRooms.remembers, 2);
  const remembered = (chat as unknown as { remembered: Map<string, number> }).remembered;
  for (let i = 0; i < 60_000; i++) await chat.joinState(alice, { room: `r-${i}` });
  assert.equal(remembered.size, 50_000);
  assert.equal(remembered.has("alice|r-59999"), true, "the newest pairs stay");
});
