/**
 * A poison entry — one Cassandra rejects (an empty partition key: "Key may not be empty") and
 * one that is not even a message — sits at the head of a room's shard stream. The messages
 * sent behind it must reach Cassandra while the poison is still being retried, and the poison
 * must end in the dead-letter stream with its error after CHAT_FLUSHER_MAX_ENTRY_FAILURES tries.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { testStores, eventually } from "../fixture.js";
import { RedisKeys } from "../../storage/keys.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { startFaultCluster, faultDir, roomsFor, SHARDS, type FaultCluster } from "./cluster.js";
import { sendKnownSet } from "./known-set.js";
import { assertNothingLost, readRooms, waitForDrain } from "./verify.js";

const COUNT = 200;
/** High enough that the poison is still being retried while the good messages flush. */
const MAX_FAILURES = 30;
let cluster: FaultCluster | undefined;
after(async () => cluster?.stop());

test("a poison entry ends in the dead-letter stream with its error and blocks nothing behind it", { timeout: 120_000 }, async () => {
  const started = Date.now();
  const stores = testStores();
  cluster = await startFaultCluster({
    dir: faultDir("poison"),
    redisUrl: stores.redisUrl,
    cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace),
    nodeCount: 1,
    env: { CHAT_FLUSHER_MAX_ENTRY_FAILURES: String(MAX_FAILURES) },
  });
  const keys = new RedisKeys(cluster.prefix, SHARDS);
  const [room] = roomsFor("poison", 1) as [string];
  const stream = keys.streamOf(room);
  // A room of its own for the poison row, in the same shard stream as the good messages.
  let poisonRoom = `${room}-p`;
  for (let i = 0; keys.streamOf(poisonRoom) !== stream; i++) poisonRoom = `${room}-p${i}`;
  const poison = JSON.stringify({
    room: poisonRoom,
    from: "",
    clientId: "poison",
    text: "rejected by Cassandra",
    id: "POISON",
    seq: 1,
    ts: Date.now(),
  });
  const poisonId = await cluster.redis.xadd(stream, "*", "m", poison);
  const garbageId = await cluster.redis.xadd(stream, "*", "m", "{not json");

  // The flusher is failing on the poison entry before the good messages are sent.
  await eventually("the poison entry failed once", async () =>
    (await cluster!.redis.hget(keys.flushFailures(stream), poisonId!)) !== null ? true : undefined,
  );
  const sent = await sendKnownSet({ url: cluster.url, token: cluster.token, rooms: [room], users: 2, count: COUNT, deadlineInMs: 30_000 });
  await eventually("the good messages in Cassandra", async () =>
    (await readRooms(cluster!.cassandra, [room])).length === COUNT ? true : undefined,
  );
  const failuresWhenFlushed = Number(await cluster.redis.hget(keys.flushFailures(stream), poisonId!));
  assert.ok(
    failuresWhenFlushed > 0 && failuresWhenFlushed < MAX_FAILURES,
    `the good messages were flushed while the poison was still retried (failures ${failuresWhenFlushed})`,
  );

  await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 60_000);
  const dead = (await cluster.redis.xrange(keys.deadLetterStreamOf(stream), "-", "+")).map(([, fields]) =>
    Object.fromEntries(
      fields.reduce<[string, string][]>((pairs, value, i, all) => (i % 2 === 0 ? [...pairs, [value, all[i + 1]!]] : pairs), []),
    ),
  );
  const byEntry = new Map(dead.map((fields) => [fields["entry"], fields]));
  assert.match(byEntry.get(poisonId!)?.["error"] ?? "", /Key may not be empty/);
  assert.equal(byEntry.get(poisonId!)?.["m"], poison);
  assert.equal(byEntry.get(poisonId!)?.["stream"], stream);
  assert.match(byEntry.get(garbageId!)?.["error"] ?? "", /JSON/);
  assert.equal(await cluster.redis.hlen(keys.flushFailures(stream)), 0, "failure counts are cleared with the entry");
  assert.equal(Number(((await cluster.redis.xpending(stream, "flushers")) as [number])[0]), 0, "nothing left pending");

  assertNothingLost(sent.acks, await readRooms(cluster.cassandra, [room]), COUNT);
  console.log(
    `# poison: ${COUNT} good messages flushed while the poison had failed ${failuresWhenFlushed}/${MAX_FAILURES} times; test ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
});
