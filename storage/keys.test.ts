import assert from "node:assert/strict";
import { test } from "node:test";
import { fnv1a32, RedisKeys } from "./keys.js";

// These names are in Redis and on the pub/sub wire of running clusters: a change here is a
// migration, not a refactoring (the Redis Cluster layout was one: drain the streams first, see
// docs/durability.md). The expected strings are written out, not derived.
const keys = new RedisKeys("chat:", 4);

test("room, idempotency, rate and presence keys keep their names", () => {
  assert.equal(keys.roomMeta("team-7:general"), "chat:{s2}room:team-7:general:meta");
  assert.equal(keys.roomRecent("lobby"), "chat:{s3}room:lobby:recent");
  assert.equal(keys.idempotency("alice", "lobby", "c-1"), "chat:{s3}idem:alice|lobby|c-1");
  assert.equal(keys.shardRun(3), "chat:{s3}run");
  assert.equal(keys.sendRate("alice"), "chat:rate:alice");
  assert.equal(keys.presence("lobby"), "chat:presence:lobby");
});

test("stream keys keep their names and a room's shard is stable", () => {
  assert.deepEqual(keys.streams(), ["chat:{s0}stream", "chat:{s1}stream", "chat:{s2}stream", "chat:{s3}stream"]);
  assert.equal(keys.deadLetterStreamOf("chat:{s2}stream"), "chat:{s2}stream:dead-letter");
  assert.equal(keys.flushFailures("chat:{s2}stream"), "chat:{s2}stream:failures");
  // The published FNV-1a 32-bit test vector for "a"; then "lobby" (475664083 % 4 = 3).
  assert.equal(fnv1a32("a"), 0xe40c292c);
  assert.equal(fnv1a32("lobby"), 475664083);
  assert.equal(keys.streamOf("lobby"), "chat:{s3}stream");
});

test("the fan-out channel prefix is the adapter key the nodes have always used", () => {
  assert.equal(keys.fanoutChannelPrefix(), "chat:socket.io");
  assert.equal(new RedisKeys("t-42:", 1).fanoutChannelPrefix(), "t-42:socket.io");
});

/** The hash slot Redis Cluster gives a key: CRC16 (XMODEM) of its hash tag, or of the whole key, mod 16384. */
function slotOf(key: string): number {
  const open = key.indexOf("{");
  const close = open >= 0 ? key.indexOf("}", open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

test("the CRC16 used here is Redis's: known slots from the cluster spec", () => {
  assert.equal(slotOf("123456789"), 0x31c3 % 16384);
  assert.equal(slotOf("foo"), 12182);
  assert.equal(slotOf("{user1000}.following"), slotOf("{user1000}.followers"));
});

test("every key one append touches is in one hash slot, for rooms with odd names too", () => {
  const keys = new RedisKeys("chat:", 16);
  for (const room of ["lobby", "team-7:general", "a{b}c", "}{", "x".repeat(200)]) {
    const shard = keys.shardOf(room);
    const slots = new Set(
      [
        keys.idempotency("alice", room, "c1"),
        keys.idempotency("bob{x}", room, "c2"),
        keys.roomMeta(room),
        keys.roomRecent(room),
        keys.streamOf(room),
        keys.shardRun(shard),
      ].map(slotOf),
    );
    assert.equal(slots.size, 1, `room ${room}`);
  }
});

test("a shard stream's failure counts and dead letters share its slot (one MULTI moves an entry)", () => {
  const keys = new RedisKeys("chat:", 16);
  for (const stream of keys.streams()) {
    assert.equal(slotOf(keys.flushFailures(stream)), slotOf(stream));
    assert.equal(slotOf(keys.deadLetterStreamOf(stream)), slotOf(stream));
  }
});

test("the default 16 shards spread over all three primaries of an evenly split cluster", () => {
  const keys = new RedisKeys("chat:", 16);
  const perPrimary = [0, 0, 0];
  for (const stream of keys.streams()) {
    const slot = slotOf(stream);
    perPrimary[slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2]! += 1;
  }
  assert.deepEqual(perPrimary, [6, 4, 6]);
  assert.equal(new Set(keys.streams().map(slotOf)).size, 16, "each shard its own slot");
});

test("the rate bucket is in the user's slot, not the room's, and all keys keep the prefix", () => {
  const keys = new RedisKeys("p:", 16);
  assert.equal(slotOf(keys.sendRate("alice")), slotOf("p:rate:alice"));
  for (const key of [
    keys.sendRate("u"),
    keys.roomMeta("r"),
    keys.idempotency("u", "r", "c"),
    keys.stream(3),
    keys.deadLetterStreamOf(keys.stream(3)),
  ])
    assert.ok(key.startsWith("p:"), key);
});

test("a prefix with braces is refused: it would become the hash tag", () => {
  assert.throws(() => new RedisKeys("chat{1}:", 4), /must not contain braces/);
  assert.throws(() => new RedisKeys("chat:", 0), /positive integer/);
});
