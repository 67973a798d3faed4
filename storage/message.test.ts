import assert from "node:assert/strict";
import { test } from "node:test";
import { bucketOf, decodeMessage, encodeMessageHead } from "./message.js";
import { fnv1a32, RedisKeys } from "./keys.js";

test("a message head completed the way the append script does it decodes to the full message", () => {
  const head = encodeMessageHead({
    room: "r:1",
    from: "alice",
    clientId: 'c"1',
    text: "hi \u2603\n",
    meta: { n: 2 ** 63, nested: [1, { a: null }] },
  });
  const message = decodeMessage(`${head},"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","seq":7,"ts":1700000000000}`);
  assert.deepEqual(message, {
    room: "r:1",
    from: "alice",
    clientId: 'c"1',
    text: "hi \u2603\n",
    meta: { n: 2 ** 63, nested: [1, { a: null }] },
    id: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    seq: 7,
    ts: 1700000000000,
  });
});

test("a message without meta has no meta field", () => {
  const message = decodeMessage(`${encodeMessageHead({ room: "r", from: "a", clientId: "c", text: "t" })},"id":"X","seq":1,"ts":1}`);
  assert.equal("meta" in message, false);
});

test("decodeMessage refuses entries missing fields (they go to the dead-letter stream)", () => {
  assert.throws(() => decodeMessage(`{"room":"r","seq":1}`), /not a chat message/);
  assert.throws(() => decodeMessage("garbage"), SyntaxError);
});

test("buckets are floor(ts / width)", () => {
  assert.equal(bucketOf(86_399_999, 86_400_000), 0);
  assert.equal(bucketOf(86_400_000, 86_400_000), 1);
});

test("a room always maps to the same shard stream, and rooms spread over shards", () => {
  const keys = new RedisKeys("p:", 4);
  assert.equal(keys.streamOf("lobby"), keys.streamOf("lobby"));
  const used = new Set(Array.from({ length: 100 }, (_, i) => keys.streamOf(`room-${i}`)));
  assert.equal(used.size, 4);
  assert.equal(fnv1a32(""), 0x811c9dc5);
});

test("idempotency keys cannot collide across room/clientId splits", () => {
  const keys = new RedisKeys("p:", 1);
  assert.notEqual(keys.idempotency("u", "a:b", "c"), keys.idempotency("u", "a", "b:c"));
});
