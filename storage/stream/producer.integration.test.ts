/**
 * The send path on a real Redis: seq and id order, the rate token (duplicates, refused and
 * unseeded sends cost none) both ways a node takes it: inside the append script (single Redis,
 * one round trip) and in its own step first (the Redis Cluster way, run here on one Redis), and a
 * Redis run that cannot vouch for a room's seq continuing from Cassandra's latest instead of
 * handing seqs out again.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import { testStores, uniquePrefix } from "../../test/fixture.js";
import { DEFAULT_STREAM_CONFIG } from "../config.js";
import { RedisKeys } from "../keys.js";
import { MessageBuffer, type AppendOutcome, type LatestSeqSource, type TokenStep } from "./producer.js";
import type { SendRateLimit } from "./send-rate.js";

const redis = new Redis(testStores().redisUrl);
after(() => redis.disconnect());

const newRoom: LatestSeqSource = { latestOf: async () => ({ seq: 0, ts: 0 }) };
const send = (buffer: MessageBuffer, clientId: string, room = "r") => buffer.append({ room, from: "u", clientId, text: "t" });
const kinds = (outcomes: AppendOutcome[]) => outcomes.map((outcome) => outcome.kind);
/** Refills one token every ~17 minutes: within a test only the burst counts. */
const burstOnly = (burst: number): SendRateLimit => ({ perSecond: 0.001, burst });
const TOKEN_STEPS: TokenStep[] = ["in-script", "separate"];

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

for (const tokenStep of TOKEN_STEPS) {
  const rated = (keys: RedisKeys, limit: SendRateLimit, config = DEFAULT_STREAM_CONFIG, latest = newRoom) =>
    new MessageBuffer(redis, keys, config, latest, limit, undefined, tokenStep);

  test(`token ${tokenStep}: a retried send costs no token, and is answered with its receipt even from an empty bucket`, async () => {
    const keys = new RedisKeys(uniquePrefix(), 2);
    const buffer = rated(keys, burstOnly(2));
    const first = await send(buffer, "c1");
    assert.equal(first.kind, "stored");
    assert.deepEqual(kinds([await send(buffer, "c1"), await send(buffer, "c1")]), ["duplicate", "duplicate"]);
    assert.equal((await send(buffer, "c2")).kind, "stored", "the duplicates took no token");
    const refused = await send(buffer, "c3");
    // Two tokens spent at 1 per 1,000 s: the next one is ~1,000 s away (less what refilled since).
    assert.ok(
      refused.kind === "rate_limited" && refused.retryAfterMs > 990_000 && refused.retryAfterMs <= 1_000_000,
      JSON.stringify(refused),
    );
    const retry = await send(buffer, "c1");
    assert.ok(
      retry.kind === "duplicate" &&
        first.kind === "stored" &&
        retry.receipt.seq === first.message.seq &&
        retry.receipt.id === first.message.id,
      JSON.stringify(retry),
    );
  });

  test(`token ${tokenStep}: a send refused because the buffer is full costs no token; the bucket is per user across rooms`, async () => {
    const keys = new RedisKeys(uniquePrefix(), 1);
    const buffer = rated(keys, burstOnly(2), { ...DEFAULT_STREAM_CONFIG, maxEntriesPerShard: 1 });
    assert.deepEqual(kinds([await send(buffer, "c1"), await send(buffer, "c2"), await send(buffer, "c3")]), [
      "stored",
      "buffer_full",
      "buffer_full",
    ]);
    await redis.del(keys.stream(0));
    assert.deepEqual(kinds([await send(buffer, "c4", "other-room"), await send(buffer, "c5", "r")]), ["stored", "rate_limited"]);
  });

  test(`token ${tokenStep}: an empty bucket answers rate_limited before the buffer or the run is looked at`, async () => {
    const keys = new RedisKeys(uniquePrefix(), 1);
    let asked = 0;
    const counting: LatestSeqSource = { latestOf: async () => (asked++, { seq: 0, ts: 0 }) };
    const buffer = rated(keys, burstOnly(1), { ...DEFAULT_STREAM_CONFIG, maxEntriesPerShard: 1 }, counting);
    assert.equal((await send(buffer, "c1")).kind, "stored");
    assert.equal((await send(buffer, "c2")).kind, "rate_limited", "the buffer is full too; the bucket answers first");
    assert.equal((await send(buffer, "c3", "new-room")).kind, "rate_limited", "a room to seed; the bucket answers first");
    assert.equal(asked, 1, "only the first room was seeded");
  });

  test(`token ${tokenStep}: a send answered "unseeded" costs no token; the seeded retry takes exactly one`, async () => {
    const keys = new RedisKeys(uniquePrefix(), 2);
    const buffer = rated(keys, burstOnly(2));
    // A new room is unseeded: with one token lost to that answer, the second send would be refused.
    assert.equal((await send(buffer, "c1")).kind, "stored");
    await redis.hset(keys.roomMeta("r"), "run", "another-run");
    const afterRestart = await send(buffer, "c2");
    assert.ok(afterRestart.kind === "stored" && afterRestart.message.seq === 2, JSON.stringify(afterRestart));
    assert.equal((await send(buffer, "c3")).kind, "rate_limited", "two sends, two tokens");
  });
}

test("on a single Redis a send is one command: token, idempotency and append in one script", async () => {
  const counted = new Redis(testStores().redisUrl);
  try {
    const keys = new RedisKeys(uniquePrefix(), 2);
    const buffer = new MessageBuffer(counted, keys, DEFAULT_STREAM_CONFIG, newRoom, burstOnly(5));
    assert.equal((await send(buffer, "c1")).kind, "stored"); // seeds the room, loads the script
    const sent: string[] = [];
    const sendCommand = counted.sendCommand.bind(counted);
    counted.sendCommand = (command, stream) => (sent.push(command.name), sendCommand(command, stream));
    assert.deepEqual(kinds([await send(buffer, "c2"), await send(buffer, "c1")]), ["stored", "duplicate"]);
    assert.deepEqual(sent, ["evalsha", "evalsha"], "a send and a duplicate: one script call each, no take or refund");
  } finally {
    counted.disconnect();
  }
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
