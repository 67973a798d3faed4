/**
 * Redis killed -9 under load and started again on its data dir (AOF), on a Redis of this
 * test's own. Sends while Redis is down fail (UNAVAILABLE or no ack) and are retried with the
 * same clientId; after the AOF replay the idempotency records, room seqs, streams and the
 * consumer group are back, so lost = 0 and duplicates = 0, seqs 1..N, row by row.
 *
 * appendfsync always: the setting under which an acknowledged send survives a crash of the
 * machine too; docs/durability.md says what everysec and no can lose.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { testStores } from "../fixture.js";
import { startRedis, type RedisServer } from "../../scripts/infra/redis.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { faultDir, roomsFor, SHARDS, startFaultCluster, startOwnRedis, type FaultCluster } from "./cluster.js";
import { sendKnownSet } from "./known-set.js";
import { assertNothingLost, readRooms, waitForDrain } from "./verify.js";

const COUNT = 3000;
const DOWN_IN_MS = 3000;
let cluster: FaultCluster | undefined;
let server: RedisServer | undefined;
after(async () => {
  await cluster?.stop();
  await server?.stop();
});

test("Redis killed -9 under load and restarted from its AOF: lost = 0, duplicates = 0", { timeout: 240_000 }, async () => {
  const started = Date.now();
  const dir = faultDir("redis-restart");
  const stores = testStores();
  const redis = await startOwnRedis(dir, "always");
  server = redis.server;
  cluster = await startFaultCluster({ dir, redisUrl: redis.server.url, cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace), nodeCount: 2 });
  const rooms = roomsFor("redis-restart", 4);
  let restartSeconds = 0;
  const sent = await sendKnownSet({
    url: cluster.url,
    token: cluster.token,
    rooms,
    users: 4,
    count: COUNT,
    ratePerSecond: 300,
    deadlineInMs: 120_000,
    onProgress: {
      fraction: 0.3,
      run: async () => {
        await redis.server.process.kill();
        await sleep(DOWN_IN_MS);
        const restart = Date.now();
        server = await startRedis({ dataDir: redis.dataDir, port: redis.port, appendFsync: redis.appendFsync });
        restartSeconds = (Date.now() - restart) / 1000;
      },
    },
  });
  assert.equal(await redis.server.process.exited, "SIGKILL");
  await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 60_000);
  assertNothingLost(sent.acks, await readRooms(cluster.cassandra, rooms), COUNT);
  console.log(
    `# redis restart: ${COUNT} messages in ${sent.seconds.toFixed(1)} s, Redis down ${DOWN_IN_MS / 1000} s + ${restartSeconds.toFixed(1)} s AOF start; ` +
      `${sent.unavailable.length} UNAVAILABLE, ${sent.timeouts} timed-out sends retried, ${sent.acks.filter((ack) => ack.duplicate).length} answered duplicate; test ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
});
