/** The append script on a real Redis: ids are in seq order within a room, even inside one millisecond. */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import { testStores, uniquePrefix } from "../../test/fixture.js";
import { DEFAULT_STREAM_CONFIG } from "../config.js";
import { RedisKeys } from "../keys.js";
import { MessageBuffer } from "./producer.js";

const redis = new Redis(testStores().redisUrl);
after(() => redis.disconnect());

test("200 concurrent sends to one room get seqs 1..200 and ids that sort in seq order", async () => {
  const keys = new RedisKeys(uniquePrefix(), 2);
  // A new room: no stored history to continue from.
  const buffer = new MessageBuffer(redis, keys, DEFAULT_STREAM_CONFIG, { latestOf: async () => ({ seq: 0, ts: 0 }) });
  const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => buffer.append({ room: "r", from: "u", clientId: `c${i}`, text: "t" })));
  const messages = outcomes.map((outcome) => (outcome.kind === "stored" ? outcome.message : assert.fail(outcome.kind))).sort((a, b) => a.seq - b.seq);
  assert.deepEqual(messages.map((m) => m.seq), Array.from({ length: 200 }, (_, i) => i + 1));
  assert.ok(new Set(messages.map((m) => m.ts)).size < 200, "several sends shared a millisecond, which is what this test is about");
  const ids = messages.map((m) => m.id);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, 200);
});
