/**
 * MessageChanges against in-memory fakes of its ports: validation and permission of edit,
 * delete and react, the moderator flag from the `mod` claim, the target's seq from its id, and
 * how each answer of the log becomes an ack or an error. The atomic decisions themselves are
 * the change script's, covered on real Redis by test/changes/.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatChange } from "../../storage/change.js";
import { MessageChanges } from "./changes.js";
import { noStoredReceipts } from "./fakes.js";
import { ChatError, type ErrorCode } from "./errors.js";
import { DEFAULT_LIMITS } from "./limits.js";
import type { ChangeLog, ChangeOutcome } from "./ports.js";
import type { Principal } from "./principal.js";
import { RoomAccess } from "./room-access.js";

/** An id as the append script builds it: ts 1_700_000_000_000, seq 7. */
const ID = "01HF7YAT00000007ABCDEFGHJK";

class FakeLog implements ChangeLog {
  readonly requests: Parameters<ChangeLog["append"]>[0][] = [];
  answer: ChangeOutcome | Error = {
    kind: "stored",
    change: { room: "r", seq: 9, ts: 5, by: "alice", clientId: "c", kind: "edit", target: ID, targetSeq: 7, text: "t" },
  };
  async append(request: Parameters<ChangeLog["append"]>[0]): Promise<ChangeOutcome> {
    this.requests.push(request);
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
}

function setUp() {
  const log = new FakeLog();
  const published: ChatChange[] = [];
  const warnings: Record<string, unknown>[] = [];
  const changes = new MessageChanges({
    log,
    receipts: noStoredReceipts(),
    publisher: { change: (c) => published.push(c) },
    limits: DEFAULT_LIMITS,
    logger: { warn: (fields) => warnings.push(fields) },
  });
  return { log, published, warnings, changes };
}

const alice: Principal = { userId: "alice", rooms: RoomAccess.compile(["r", "team:*"]), expiresAt: Date.now() + 60_000 };
const moderator: Principal = { ...alice, userId: "mod", modPatterns: ["team:*"] };

async function rejects(promise: Promise<unknown>, code: ErrorCode, what: string): Promise<ChatError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ChatError, `${what}: ${String(error)}`);
    assert.equal(error.code, code, `${what}: ${error.message}`);
    return error;
  }
  assert.fail(`${what}: expected ${code}`);
}

test("a stored edit is acknowledged { seq, ts } and published; the log gets the target's seq from its id", async () => {
  const { log, published, changes } = setUp();
  assert.deepEqual(await changes.edit(alice, { room: "r", id: ID, clientId: "c", text: "t" }), { seq: 9, ts: 5 });
  assert.deepEqual(log.requests, [
    { change: { room: "r", by: "alice", clientId: "c", kind: "edit", target: ID, text: "t", targetSeq: 7 }, mayModerate: false },
  ]);
  assert.equal(published.length, 1);
});

test("mayModerate follows the mod claim's patterns for the room, nothing else", async () => {
  const { log, changes } = setUp();
  await changes.delete(moderator, { room: "team:1", id: ID, clientId: "d1" });
  await changes.delete(moderator, { room: "r", id: ID, clientId: "d2" });
  await changes.delete(alice, { room: "team:1", id: ID, clientId: "d3" });
  assert.deepEqual(
    log.requests.map((r) => r.mayModerate),
    [true, false, false],
  );
});

test("each refusal of the log becomes its error code; only a stored change is published", async () => {
  const cases: [ChangeOutcome, ErrorCode][] = [
    [{ kind: "not_found" }, "NOT_FOUND"],
    [{ kind: "forbidden" }, "FORBIDDEN"],
    [{ kind: "too_many_emoji" }, "TOO_LARGE"],
    [{ kind: "buffer_full" }, "UNAVAILABLE"],
    [{ kind: "rate_limited", retryAfterMs: 50 }, "RATE_LIMITED"],
  ];
  for (const [answer, code] of cases) {
    const { log, published, changes } = setUp();
    log.answer = answer;
    const error = await rejects(changes.react(alice, { room: "r", id: ID, clientId: "c", emoji: "👍", on: true }), code, answer.kind);
    if (code === "UNAVAILABLE" || code === "RATE_LIMITED") assert.ok((error.retryAfterMs ?? 0) > 0, `${answer.kind} carries retryAfterMs`);
    assert.deepEqual(published, []);
  }
});

test("a duplicate is the first receipt with duplicate: true, and is not published again", async () => {
  const { log, published, changes } = setUp();
  log.answer = { kind: "duplicate", receipt: { seq: 3, ts: 4 } };
  assert.deepEqual(await changes.delete(alice, { room: "r", id: ID, clientId: "c" }), { seq: 3, ts: 4, duplicate: true });
  assert.deepEqual(published, []);
});

test("a storage failure is UNAVAILABLE, logged without the text", async () => {
  const { log, warnings, changes } = setUp();
  log.answer = new Error("connection refused");
  await rejects(changes.edit(alice, { room: "r", id: ID, clientId: "c", text: "very private words" }), "UNAVAILABLE", "Redis down");
  assert.equal(JSON.stringify(warnings).includes("very private words"), false);
});

test("bad payloads never reach the log: shape, room, sizes, emoji length; a non-id target is NOT_FOUND", async () => {
  const { log, changes } = setUp();
  await rejects(changes.edit(alice, { room: "r", id: ID, clientId: "c" }), "BAD_REQUEST", "edit without text");
  await rejects(
    changes.edit(alice, { room: "other", id: ID, clientId: "c", text: "t" }),
    "FORBIDDEN",
    "edit in a room the token does not allow",
  );
  await rejects(
    changes.edit(alice, { room: "r", id: ID, clientId: "c", text: "x".repeat(DEFAULT_LIMITS.maxTextChars + 1) }),
    "TOO_LARGE",
    "long text",
  );
  await rejects(
    changes.delete(alice, { room: "r", id: ID, clientId: "c".repeat(DEFAULT_LIMITS.maxClientIdChars + 1) }),
    "BAD_REQUEST",
    "long clientId",
  );
  await rejects(changes.react(alice, { room: "r", id: ID, clientId: "c", emoji: "", on: true }), "BAD_REQUEST", "empty emoji");
  await rejects(
    changes.react(alice, { room: "r", id: ID, clientId: "c", emoji: "x".repeat(33), on: true }),
    "BAD_REQUEST",
    "33 characters",
  );
  await rejects(changes.react(alice, { room: "r", id: ID, clientId: "c", emoji: "👍", on: "yes" }), "BAD_REQUEST", "on not a boolean");
  await rejects(changes.react(alice, { room: "r", id: "nope", clientId: "c", emoji: "👍", on: true }), "NOT_FOUND", "not an id");
  assert.equal(log.requests.length, 0);
  // 32 emoji with a skin tone each are 64 code points; one is 2: counted as users see characters.
  await changes.react(alice, { room: "r", id: ID, clientId: "c", emoji: "👍🏽", on: true });
  assert.equal(log.requests.length, 1);
});
