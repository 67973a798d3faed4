/**
 * The send path on a real Redis: seq and id order, the rate token taken in its own step
 * (duplicates and refused sends cost none), and a Redis run that cannot vouch for a room's seq
 * continuing from Cassandra's latest instead of handing seqs out again.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import { testStores, uniquePrefix } from "../../test/fixture.js";
import { DEFAULT_STREAM_CONFIG } from "../config.js";
import { RedisKeys } from "../keys.js";
import { MessageBuffer, type AppendOutcome, type LatestSeqSource } from "./producer.js";

const redis = new Redis(testStores().redisUrl);
after(() => redis.disconnect());

const newRoom: LatestSeqSource = { latestOf: async () => ({ seq: 0, ts: 0 }) };
const send = (buffer: MessageBuffer, clientId: string, room = "r") => buffer.append({ room, from: "u", clientId, text: "t" });
const kinds = (outcomes: AppendOutcome[]) => outcomes.map((outcome) => outcome.kind);

test("200 concurrent sends to one room get seqs 1..200 and ids that sort in seq order", async () => {
  const keys = new RedisKeys(uniquePrefix(), 2);
  // A new room: no stored history to continue from.
  const buffer = new MessageBuffer(redis, keys, DEFAULT_STREAM_CONFIG, newRoom);
  const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => send(buffer, `c${i}`)));
  const messages = outcomes
    .map((outcome) => (outcome.kind === "stored" ? outcome.message : assert.fail(outcome.kind)))
    .sort((a, b) => a.seq - b.seq);
  assert.deepEqual(
    messages.map((m) => m.seq),
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
  assert.ok(new Set(messages.map((m) => m.ts)).size < 200, "several sends shared a millisecond, which is what this test is about");
  const ids = messages.map((m) => m.id);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, 200);
});

test("a retried send costs no token, and is answered with its receipt even from an empty bucket", async () => {
  const keys = new RedisKeys(uniquePrefix(), 2);
  // Refills one token every ~17 minutes: within the test only the burst counts.
  const buffer = new MessageBuffer(redis, keys, DEFAULT_STREAM_CONFIG, newRoom, { perSecond: 0.001, burst: 2 });
  const first = await send(buffer, "c1");
  assert.equal(first.kind, "stored");
  assert.deepEqual(kinds([await send(buffer, "c1"), await send(buffer, "c1")]), ["duplicate", "duplicate"]);
  assert.equal((await send(buffer, "c2")).kind, "stored", "the duplicates gave their tokens back");
  const refused = await send(buffer, "c3");
  assert.equal(refused.kind, "rate_limited");
  assert.ok(refused.kind === "rate_limited" && refused.retryAfterMs > 1000);
  const retry = await send(buffer, "c1");
  assert.ok(
    retry.kind === "duplicate" &&
      first.kind === "stored" &&
      retry.receipt.seq === first.message.seq &&
      retry.receipt.id === first.message.id,
  );
});

test("a send refused because the buffer is full costs no token; the bucket is per user across rooms", async () => {
  const keys = new RedisKeys(uniquePrefix(), 1);
  const buffer = new MessageBuffer(redis, keys, { ...DEFAULT_STREAM_CONFIG, maxEntriesPerShard: 1 }, newRoom, {
    perSecond: 0.001,
    burst: 2,
  });
  assert.deepEqual(kinds([await send(buffer, "c1"), await send(buffer, "c2"), await send(buffer, "c3")]), [
    "stored",
    "buffer_full",
    "buffer_full",
  ]);
  await redis.del(keys.stream(0));
  assert.deepEqual(kinds([await send(buffer, "c4", "other-room"), await send(buffer, "c5", "r")]), ["stored", "rate_limited"]);
});

test("a Redis run that did not vouch for a room's seq continues from Cassandra's latest, never below either", async () => {
  const keys = new RedisKeys(uniquePrefix(), 2);
  let stored = { seq: 0, ts: 0 };
  let asked = 0;
  const cassandra: LatestSeqSource = { latestOf: async () => (asked++, stored) };
  const buffer = new MessageBuffer(redis, keys, DEFAULT_STREAM_CONFIG, cassandra);
  for (let i = 1; i <= 5; i++) assert.equal((await send(buffer, `a${i}`)).kind, "stored");
  assert.equal(asked, 1, "asked once, for the new room; then this run vouches for it");

  // As after restoring an older AOF on another process: meta back at seq 2 and written by
  // another run, while the flusher had already stored up to seq 40.
  const meta = keys.roomMeta("r");
  await redis.hset(meta, "seq", 2, "run", "0123456789abcdef0123456789abcdef01234567");
  stored = { seq: 40, ts: Date.now() };
  const afterRollback = await send(buffer, "b1");
  assert.ok(afterRollback.kind === "stored" && afterRollback.message.seq === 41, JSON.stringify(afterRollback));
  assert.equal(asked, 2);

  // A restart that lost nothing: Redis (seq 41) is ahead of Cassandra (40): keep Redis's.
  await redis.del(keys.shardRun(keys.shardOf("r")));
  await redis.hset(meta, "run", "another-run");
  const afterRestart = await send(buffer, "b2");
  assert.ok(afterRestart.kind === "stored" && afterRestart.message.seq === 42, JSON.stringify(afterRestart));
  assert.equal(asked, 3);
});
