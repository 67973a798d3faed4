/**
 * The flusher on a real 3 + 3 Redis Cluster: it reads every shard stream on every primary
 * (one XREADGROUP per stream: multi-key reads cannot cross slots), writes each message to
 * Cassandra once, acknowledges per shard, and takes over the entries a dead consumer had
 * read but never acknowledged (XAUTOCLAIM per stream), as on single Redis.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "../../common/logger.js";
import { startRedisCluster, type RedisCluster } from "../../scripts/infra/redis-cluster.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { createCassandraClient } from "../../storage/cassandra/client.js";
import { Timeline } from "../../storage/cassandra/timeline.js";
import { DEFAULT_STREAM_CONFIG, parseNodeAddress, type RedisConfig } from "../../storage/config.js";
import { Flusher } from "../../storage/flusher/flusher.js";
import { DEFAULT_FLUSHER_OPTIONS } from "../../storage/flusher/options.js";
import { RedisKeys } from "../../storage/keys.js";
import { createRedisClient, type RedisClient } from "../../storage/redis-client.js";
import { MessageBuffer } from "../../storage/stream/producer.js";
import { roomsFor } from "../faults/cluster.js";
import { testStores, uniquePrefix } from "../fixture.js";

const dir = mkdtempSync(join(tmpdir(), "chat-cluster-flusher-"));
const stores = testStores();
const cassandra = createCassandraClient(cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace));
const timeline = new Timeline(cassandra, DEFAULT_STREAM_CONFIG.bucketWidthInMs);
let cluster: RedisCluster;
let config: RedisConfig;
const clients: RedisClient[] = [];
const connect = () => {
  const client = createRedisClient(config, { name: "test", onError: () => undefined, maxRetriesPerRequest: 2 });
  clients.push(client);
  return client;
};

before(async () => {
  cluster = await startRedisCluster({ dir, primaries: 3, replicasPerPrimary: 1, appendFsync: "everysec", nodeTimeoutInMs: 5000 });
  config = {
    url: "",
    clusterNodes: cluster.seeds.map((seed) => parseNodeAddress("seed", seed)),
    password: undefined,
    tls: undefined,
    keyPrefix: uniquePrefix(),
    ackReplicas: 0,
    ackTimeoutInMs: 1000,
  };
});

after(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.stop();
  await cassandra.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

test("every shard on every primary is flushed once, and a dead consumer's entries are taken over", async () => {
  const keys = new RedisKeys(config.keyPrefix, DEFAULT_STREAM_CONFIG.shards);
  const redis = connect();
  const buffer = new MessageBuffer(redis, keys, DEFAULT_STREAM_CONFIG, timeline);
  // Rooms until every shard has one: every primary holds some of the streams.
  const rooms: string[] = [];
  const shards = new Set<number>();
  for (const room of roomsFor("cluster-flusher", 400)) {
    if (shards.has(keys.shardOf(room))) continue;
    shards.add(keys.shardOf(room));
    rooms.push(room);
    if (shards.size === keys.shardCount) break;
  }
  assert.equal(shards.size, keys.shardCount);
  const send = (phase: string) =>
    Promise.all(
      rooms.flatMap((room) =>
        Array.from({ length: 10 }, (_, i) => buffer.append({ room, from: "u", clientId: `${phase}${i}`, text: `${phase} ${i}` })),
      ),
    );

  // A consumer that reads the first half and dies without acknowledging.
  const first = await send("a");
  for (const stream of keys.streams()) {
    await redis.xgroup("CREATE", stream, DEFAULT_FLUSHER_OPTIONS.group, "0", "MKSTREAM");
    await redis.xreadgroup("GROUP", DEFAULT_FLUSHER_OPTIONS.group, "dead-consumer", "COUNT", 100, "STREAMS", stream, ">");
  }
  const second = await send("b");
  const acked = [...first, ...second].map((outcome) => (outcome.kind === "stored" ? outcome.message : assert.fail(outcome.kind)));

  const flusher = new Flusher(
    connect(),
    keys,
    timeline,
    { ...DEFAULT_FLUSHER_OPTIONS, consumer: "live", blockInMs: 200, claimIdleInMs: 1000 },
    createLogger("flusher", "fatal"),
    { flushed() {}, failed() {}, deadLettered() {} },
  );
  const stop = new AbortController();
  const running = flusher.run(stop.signal);
  try {
    for (let i = 0; ; i++) {
      let left = 0;
      for (const stream of keys.streams()) left += await redis.xlen(stream);
      if (left === 0) break;
      assert.ok(i < 300, `${left} entries never flushed`);
      await sleep(100);
    }
  } finally {
    stop.abort();
    await running;
  }
  for (const stream of keys.streams()) {
    const [pending] = (await redis.xpending(stream, DEFAULT_FLUSHER_OPTIONS.group)) as [number];
    assert.equal(pending, 0, `${stream}: nothing pending`);
  }
  for (const room of rooms) {
    const rows = await timeline.after(room, 0, 100);
    const expected = acked.filter((m) => m.room === room).sort((a, b) => a.seq - b.seq);
    assert.deepEqual(
      rows.map((m) => [m.seq, m.id]),
      expected.map((m) => [m.seq, m.id]),
      room,
    );
  }
  const primaries = new Set(await Promise.all(keys.streams().map(async (stream) => (await cluster.ownerOfKey(stream)).primary.port)));
  assert.equal(primaries.size, 3);
});
