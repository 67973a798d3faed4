/**
 * Redis killed -9 mid-conversation and started again from its AOF (appendfsync always), on a
 * Redis of this test's own. Sends while it is down are refused (UNAVAILABLE) or get no ack;
 * the SDK's outbox keeps them and sends them again, same clientId, after a backoff. Both users
 * end with every message once, in order, and Cassandra holds each exactly once (lost = 0,
 * duplicates = 0, checked row by row).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { testStores } from "../fixture.js";
import { startRedis, type RedisServer } from "../../scripts/infra/redis.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { faultDir, SHARDS, startFaultCluster, startOwnRedis, type FaultCluster } from "../faults/cluster.js";
import type { SendAck } from "../faults/known-set.js";
import { assertNothingLost, readRooms, waitForDrain } from "../faults/verify.js";
import { assertEveryMessageOnceInOrder, sdkUser, until, type SdkUser } from "./sdk.js";

const DOWN_IN_MS = 3000;
let cluster: FaultCluster | undefined;
let server: RedisServer | undefined;
const users: SdkUser[] = [];
after(async () => {
  for (const user of users) user.client.close();
  await cluster?.stop();
  await server?.stop();
});

test("Redis restarted mid-conversation: nothing lost, nothing twice, on both clients and in storage", { timeout: 240_000 }, async () => {
  const dir = faultDir("sdk-redis-restart");
  const stores = testStores();
  const redis = await startOwnRedis(dir, "always");
  server = redis.server;
  cluster = await startFaultCluster({
    dir,
    redisUrl: redis.server.url,
    cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace),
    nodeCount: 2,
  });
  const room = `sdk-redis-${Date.now().toString(36)}`;
  const alice = sdkUser("alice", cluster.url, await cluster.token("alice", [room]));
  const bob = sdkUser("bob", cluster.url, await cluster.token("bob", [room]));
  users.push(alice, bob);
  const acks: SendAck[] = [];
  for (const user of [alice, bob]) {
    user.client.on("sent", ({ operation, result }) => {
      if ("id" in result)
        acks.push({
          clientId: operation.clientId,
          room: operation.room,
          id: result.id,
          seq: result.seq,
          duplicate: result.duplicate === true,
          at: Date.now(),
        });
    });
  }
  await Promise.all([alice.client.join(room), bob.client.join(room)]);
  const texts: string[] = [];
  const say = (user: SdkUser, text: string) => {
    texts.push(text);
    return user.client.send(room, text);
  };

  for (let i = 0; i < 10; i += 1) await Promise.all([say(alice, `alice before ${i}`), say(bob, `bob before ${i}`)]);
  await until("both saw the first 20", () => alice.received.length === 20 && bob.received.length === 20);

  await redis.server.process.kill();
  const during: Promise<unknown>[] = [];
  for (let i = 0; i < 5; i += 1) during.push(say(alice, `alice during ${i}`), say(bob, `bob during ${i}`));
  await sleep(DOWN_IN_MS);
  assert.ok(alice.client.pending.length + bob.client.pending.length > 0, "sends wait in the outboxes while Redis is down");
  const restartedAt = Date.now();
  server = await startRedis({ dataDir: redis.dataDir, port: redis.port, appendFsync: redis.appendFsync });
  await Promise.all(during);
  const drainedOutboxesAt = Date.now();

  for (let i = 0; i < 5; i += 1) await Promise.all([say(alice, `alice after ${i}`), say(bob, `bob after ${i}`)]);
  await until(`both saw all ${texts.length}`, () => alice.received.length === texts.length && bob.received.length === texts.length);
  assertEveryMessageOnceInOrder([alice, bob], room, texts);

  await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 60_000);
  assertNothingLost(acks, await readRooms(cluster.cassandra, [room]), texts.length);
  const refusals = [alice, bob].flatMap((user) => user.errors).length;
  console.log(
    `# sdk redis restart: Redis down ${DOWN_IN_MS / 1000} s; outboxes empty ${drainedOutboxesAt - restartedAt} ms after the restart began; ` +
      `${acks.filter((ack) => ack.duplicate).length} resends answered duplicate; ${refusals} errors reported; ${texts.length} messages once each`,
  );
});
