/**
 * kill -9 of a primary during steady sends on a real 3 + 3 Redis Cluster with ack replicas 1:
 * its replica is promoted, the killed node comes back as a replica, and meanwhile the sends to
 * its shards are answered UNAVAILABLE (no replica to confirm them) and retried with their
 * clientIds. Nothing acknowledged is lost, nothing is stored twice, no seq is reused: every
 * room's Cassandra timeline is 1..N with exactly the acknowledged ids. The window of refused
 * sends is measured and printed.
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

const dir = mkdtempSync(join(tmpdir(), "chat-redis-failover-"));
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
  cluster = await startRedisCluster({ dir, primaries: 3, replicasPerPrimary: 1, appendFsync: "everysec", nodeTimeoutInMs: 2000 });
  config = {
    url: "",
    clusterNodes: cluster.seeds.map((seed) => parseNodeAddress("seed", seed)),
    password: undefined,
    tls: undefined,
    keyPrefix: uniquePrefix(),
    ackReplicas: 1,
    ackTimeoutInMs: 500,
  };
});

after(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.stop();
  await cassandra.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

test("kill -9 of a primary under sends: lost 0, duplicates 0, seqs 1..N per room", { timeout: 180_000 }, async () => {
  const keys = new RedisKeys(config.keyPrefix, DEFAULT_STREAM_CONFIG.shards);
  const rooms = roomsFor("failover", 4);
  const victimSlot = await cluster.slotOf(keys.streamOf(rooms[0]!));
  const buffer = new MessageBuffer(connect(), keys, DEFAULT_STREAM_CONFIG, timeline, undefined, {
    count: 1,
    timeoutInMs: config.ackTimeoutInMs,
  });
  const flusher = new Flusher(
    connect(),
    keys,
    timeline,
    { ...DEFAULT_FLUSHER_OPTIONS, consumer: "f", blockInMs: 200, lingerInMs: 5, retryMaxInMs: 500 },
    createLogger("flusher", "fatal"),
    { flushed() {}, failed() {}, deadLettered() {} },
    new MessageBuffer(connect(), keys, DEFAULT_STREAM_CONFIG, timeline),
  );
  const stop = new AbortController();
  const flushing = flusher.run(stop.signal);

  const PER_ROOM = 150;
  const acks = new Map<string, { room: string; seq: number; id: string }>();
  const refusals: number[] = [];
  let inFlight = 0;
  const send = async (room: string) => {
    for (let i = 0; i < PER_ROOM; i++) {
      const clientId = `c${i}`;
      for (;;) {
        try {
          inFlight++;
          const outcome = await buffer.append({ room, from: "u", clientId, text: `m ${i}` });
          const receipt =
            outcome.kind === "stored" ? outcome.message : outcome.kind === "duplicate" ? outcome.receipt : assert.fail(outcome.kind);
          acks.set(`${room}|${clientId}`, { room, seq: receipt.seq, id: receipt.id });
          inFlight--;
          break;
        } catch (error) {
          inFlight--;
          if (refusals.length % 20 === 0) console.log(`refused: ${String(error)}`);
          refusals.push(Date.now());
          await sleep(100);
        }
      }
      await sleep(10);
    }
  };
  const sending = Promise.all(rooms.map(send));
  while (acks.size < rooms.length * PER_ROOM * 0.3) await sleep(20);
  const killedAt = Date.now();
  const stage = (what: string) =>
    console.log(`failover stage +${Date.now() - killedAt} ms: ${what} (${acks.size} acknowledged, ${refusals.length} refused)`);
  const victim = await cluster.killPrimaryOfSlot(victimSlot);
  stage("killed");
  await cluster.waitForFailover(victimSlot, victim);
  const promotedAfter = Date.now() - killedAt;
  stage("replica promoted");
  // The new primary has no replica until the killed node is back: ack replicas 1 refuses until then.
  await cluster.restartNode(victim);
  await cluster.waitUntilHealthy();
  stage("killed node back, cluster healthy");
  const watchdog = setInterval(() => stage(`waiting; attempts in flight ${inFlight}`), 5000);
  await sending;
  clearInterval(watchdog);
  stage("all sends acknowledged");
  try {
    for (let i = 0; ; i++) {
      let left = 0;
      for (const stream of keys.streams()) left += await clients[0]!.xlen(stream);
      if (left === 0) break;
      assert.ok(i < 300, `${left} entries never flushed`);
      await sleep(100);
    }
  } finally {
    stop.abort();
    await flushing;
  }

  let lost = 0;
  let duplicates = 0;
  for (const room of rooms) {
    const rows = await timeline.after(room, 0, 10_000);
    const acked = [...acks.values()].filter((ack) => ack.room === room).sort((a, b) => a.seq - b.seq);
    const byId = new Map(rows.map((m) => [m.id, m.seq]));
    lost += acked.filter((ack) => byId.get(ack.id) !== ack.seq).length;
    duplicates += rows.length - new Set(rows.map((m) => m.clientId)).size;
    assert.deepEqual(
      rows.map((m) => m.seq),
      Array.from({ length: PER_ROOM }, (_, i) => i + 1),
      `${room}: seqs 1..${PER_ROOM}`,
    );
  }
  const window = refusals.length === 0 ? 0 : Math.max(...refusals) - Math.min(...refusals);
  console.log(
    `redis failover: ${JSON.stringify({ acknowledged: acks.size, lost, duplicates, promotedAfterMs: promotedAfter, refusedAttempts: refusals.length, refusedWindowMs: window })}`,
  );
  assert.equal(acks.size, rooms.length * PER_ROOM);
  assert.equal(lost, 0);
  assert.equal(duplicates, 0);
  assert.ok(refusals.length > 0, "the kill did refuse some sends: the fault happened under traffic");
});
