import assert from "node:assert/strict";
import { test } from "node:test";
import { fnv1a32, RedisKeys } from "./keys.js";

// These names are in Redis and on the pub/sub wire of running clusters: a change here is a
// migration, not a refactoring. The expected strings are written out, not derived.
const keys = new RedisKeys("chat:", 4);

test("room, idempotency, rate and presence keys keep their names", () => {
  assert.equal(keys.roomMeta("team-7:general"), "chat:room:team-7:general:meta");
  assert.equal(keys.roomRecent("lobby"), "chat:room:lobby:recent");
  assert.equal(keys.idempotency("alice", "lobby", "c-1"), "chat:idem:alice|lobby|c-1");
  assert.equal(keys.sendRate("alice"), "chat:rate:alice");
  assert.equal(keys.presence("lobby"), "chat:presence:lobby");
});

test("stream keys keep their names and a room's shard is stable", () => {
  assert.deepEqual(keys.streams(), ["chat:stream:0", "chat:stream:1", "chat:stream:2", "chat:stream:3"]);
  assert.equal(keys.deadLetterStream(), "chat:stream:dead-letter");
  assert.equal(keys.flushFailures("chat:stream:2"), "chat:stream:2:failures");
  // The published FNV-1a 32-bit test vector for "a"; then "lobby" (475664083 % 4 = 3).
  assert.equal(fnv1a32("a"), 0xe40c292c);
  assert.equal(fnv1a32("lobby"), 475664083);
  assert.equal(keys.streamOf("lobby"), "chat:stream:3");
});

test("the fan-out channel prefix is the adapter key the nodes have always used", () => {
  assert.equal(keys.fanoutChannelPrefix(), "chat:socket.io");
  assert.equal(new RedisKeys("t-42:", 1).fanoutChannelPrefix(), "t-42:socket.io");
});
