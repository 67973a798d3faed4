/**
 * The bench's dead-letter count (read-back.ts) reads the streams the flusher actually writes:
 * entries moved by the flusher's own Acknowledger, on a real Redis, on two shards, are counted.
 * A renamed or re-tagged dead-letter stream (as when the keys moved under `{s<shard>}` hash tags)
 * would otherwise read 0 and let a flush figure stand with dead-lettered rows.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import { createLogger } from "../../common/logger.js";
import { Acknowledger } from "../../storage/flusher/acknowledger.js";
import { RedisKeys } from "../../storage/keys.js";
import { testStores, uniquePrefix } from "../../test/fixture.js";
import { deadLetterCount } from "./read-back.js";

const redis = new Redis(testStores().redisUrl);
after(() => redis.disconnect());

test("entries the flusher dead-letters on any shard are counted", async () => {
  const keys = new RedisKeys(uniquePrefix(), 16);
  const group = "flushers";
  const acknowledger = new Acknowledger(
    redis,
    keys,
    { group, recentKeepPerRoom: 10, receiptWindowInMs: 60_000 },
    createLogger("bench-test", "silent"),
    {
      deadLettered: () => undefined,
    },
  );
  assert.equal(await deadLetterCount(redis, keys), 0);
  const poison = [];
  for (const shard of [3, 3, 11]) {
    const stream = keys.stream(shard);
    await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM").catch((error: Error) => {
      if (!/BUSYGROUP/.test(error.message)) throw error;
    });
    const id = (await redis.xadd(stream, "*", "m", "not a message"))!;
    poison.push({ entry: { stream, id, payload: "not a message" }, error: "test: undecodable" });
  }
  await acknowledger.deadLetter(poison);
  assert.equal(await deadLetterCount(redis, keys), 3);
  await redis.del(...keys.streams(), ...keys.streams().map((stream) => keys.deadLetterStreamOf(stream)));
});
