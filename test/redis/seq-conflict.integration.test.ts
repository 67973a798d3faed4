/**
 * The flusher meets a seq that Cassandra already holds for another message (a Redis that lost
 * state handed it out again, docs/durability.md "No seq reused"): the stored row is kept, and
 * the acknowledged message is given the room's next seq instead of being dead-lettered; a
 * retry of its send answers the new receipt.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { createLogger } from "../../common/logger.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { createCassandraClient } from "../../storage/cassandra/client.js";
import { Timeline } from "../../storage/cassandra/timeline.js";
import { DEFAULT_STREAM_CONFIG } from "../../storage/config.js";
import { Flusher } from "../../storage/flusher/flusher.js";
import { DEFAULT_FLUSHER_OPTIONS } from "../../storage/flusher/options.js";
import { RedisKeys } from "../../storage/keys.js";
import { decodeMessage } from "../../storage/message.js";
import { MessageBuffer } from "../../storage/stream/producer.js";
import { roomsFor } from "../faults/cluster.js";
import { testStores, uniquePrefix } from "../fixture.js";

const stores = testStores();
const cassandra = createCassandraClient(cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace));
const redis = new Redis(stores.redisUrl);
const flusherRedis = new Redis(stores.redisUrl);
after(async () => {
  redis.disconnect();
  flusherRedis.disconnect();
  await cassandra.shutdown();
});

test("a message whose seq Cassandra holds for another message gets the next seq; the stored row stays", async () => {
  const keys = new RedisKeys(uniquePrefix(), 2);
  const [room] = roomsFor("seq-conflict", 1) as [string];
  const timeline = new Timeline(cassandra, DEFAULT_STREAM_CONFIG.bucketWidthInMs);
  const buffer = new MessageBuffer(redis, keys, DEFAULT_STREAM_CONFIG, timeline);

  const first = await buffer.append({ room, from: "alice", clientId: "c1", text: "first" });
  assert.ok(first.kind === "stored");
  // What a lost Redis leaves behind: another message already stored under seq 1.
  await timeline.write([
    { room, seq: 1, id: "0000000000FOREIGN000000000", ts: first.message.ts, from: "bob", clientId: "x", text: "stored before" },
  ]);
  const second = await buffer.append({ room, from: "alice", clientId: "c2", text: "second" });
  assert.ok(second.kind === "stored" && second.message.seq === 2);

  const stop = new AbortController();
  const flusher = new Flusher(
    flusherRedis,
    keys,
    timeline,
    { ...DEFAULT_FLUSHER_OPTIONS, consumer: "f", blockInMs: 100, lingerInMs: 0, retryMinInMs: 20 },
    createLogger("flusher", "fatal"),
    { flushed() {}, failed() {}, deadLettered() {} },
    buffer,
  );
  const running = flusher.run(stop.signal);
  try {
    for (let i = 0; ; i++) {
      const rows = await timeline.after(room, 0, 10);
      if (rows.length === 3) break;
      assert.ok(i < 100, `rows never complete: ${JSON.stringify(rows.map((m) => [m.seq, m.id]))}`);
      await sleep(100);
    }
  } finally {
    stop.abort();
    await running;
  }

  const rows = await timeline.after(room, 0, 10);
  assert.deepEqual(
    rows.map((m) => [m.seq, m.clientId]),
    [
      [1, "x"],
      [2, "c2"],
      [3, "c1"],
    ],
    "seq 1 kept, the first message renumbered to 3",
  );
  assert.equal(rows[0]!.id, "0000000000FOREIGN000000000");
  assert.equal(rows[2]!.text, "first");
  const retry = await buffer.append({ room, from: "alice", clientId: "c1", text: "first" });
  assert.ok(retry.kind === "duplicate" && retry.receipt.seq === 3 && retry.receipt.id === rows[2]!.id, JSON.stringify(retry));
  const deadLetters = await Promise.all(keys.streams().map((stream) => redis.xlen(keys.deadLetterStreamOf(stream))));
  assert.deepEqual(deadLetters, [0, 0], "nothing dead-lettered");
  const recent = (await redis.zrangebyscore(keys.roomRecent(room), "-inf", "+inf")).map(decodeMessage);
  assert.deepEqual(
    recent.map((m) => [m.seq, m.clientId]),
    [
      [2, "c2"],
      [3, "c1"],
    ],
    "the old seq-1 copy left the recent history",
  );
});
