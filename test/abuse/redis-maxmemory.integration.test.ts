/**
 * A Redis at its `maxmemory` (policy noeviction, as scripts/infra/redis.ts starts it): sends are
 * answered UNAVAILABLE, promptly, and every send acknowledged before the cap is reached is
 * stored, without a gap or a duplicate, once room is made. On a Redis of this test's own: the
 * test fills it to the brim with a filler key of its own, then sends up to and past the cap.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { io as connect, type Socket } from "socket.io-client";
import { testStores } from "../fixture.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { freePort } from "../../scripts/infra/process.js";
import { startRedis, type RedisServer } from "../../scripts/infra/redis.js";
import { faultDir, roomsFor, SHARDS, startFaultCluster, type FaultCluster } from "../faults/cluster.js";
import type { SendAck } from "../faults/known-set.js";
import { assertNothingLost, readRooms, waitForDrain } from "../faults/verify.js";
import { join } from "node:path";

const MAXMEMORY = "24mb";
const FILLER_CHUNK = "x".repeat(64 * 1024);
/** Room left under the cap for the sends that are acknowledged before it is reached. */
const HEADROOM_CHUNKS = 8;
const ACK_TIMEOUT_IN_MS = 5000;

interface Reply {
  ok: boolean;
  id?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code: string; retryAfterMs?: number };
}

let cluster: FaultCluster | undefined;
let server: RedisServer | undefined;
let socket: Socket | undefined;
after(async () => {
  socket?.disconnect();
  await cluster?.stop();
  await server?.stop();
});

test("a Redis at maxmemory: sends answered UNAVAILABLE, every acknowledged one stored", { timeout: 180_000 }, async () => {
  const dir = faultDir("redis-maxmemory");
  const stores = testStores();
  server = await startRedis({ dataDir: join(dir, "redis"), port: await freePort(), appendFsync: "everysec", maxmemory: MAXMEMORY });
  cluster = await startFaultCluster({
    dir,
    redisUrl: server.url,
    cassandra: cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace),
    nodeCount: 1,
  });
  const redis = cluster.redis;
  const policy = (await redis.config("GET", "maxmemory-policy")) as string[];
  assert.equal(policy[1], "noeviction", "started with a policy that never evicts buffered messages");

  const [room] = roomsFor("maxmemory", 1);
  const token = await cluster.token(`maxmemory-${Date.now().toString(36)}`, [room!]);
  socket = connect(cluster.url, { auth: { token }, reconnection: false, forceNew: true, transports: ["websocket"] });
  await new Promise<void>((resolve, reject) => (socket!.once("connect", resolve), socket!.once("connect_error", reject)));

  // Fill to the cap with the test's own key, then give a little of it back.
  const filler = `${cluster.prefix}filler`;
  let chunks = 0;
  for (;;) {
    try {
      await redis.rpush(filler, FILLER_CHUNK);
      chunks++;
    } catch (error) {
      assert.match(String(error), /OOM/, "the filler stops at the cap with Redis' OOM error");
      break;
    }
    assert.ok(chunks < 10_000, "the filler never reached the cap: no maxmemory, or a policy that evicts");
  }
  for (let i = 0; i < HEADROOM_CHUNKS; i++) await redis.rpop(filler);

  const acks: SendAck[] = [];
  const refused: Reply[] = [];
  const text = "m".repeat(3000);
  for (let i = 0; i < 5000 && refused.length < 20; i++) {
    const clientId = `maxmemory-${i}`;
    const reply = (await socket
      .timeout(ACK_TIMEOUT_IN_MS)
      .emitWithAck("send", { room, clientId, text })
      .catch(() => {
        throw new Error(`send ${i} got no answer within ${ACK_TIMEOUT_IN_MS} ms: a node at Redis' cap must answer, not hang`);
      })) as Reply;
    if (reply.ok) acks.push({ clientId, room: room!, id: reply.id!, seq: reply.seq!, duplicate: reply.duplicate ?? false, at: Date.now() });
    else refused.push(reply);
  }
  console.log(`# filler ${chunks} × 64 KiB, ${acks.length} acknowledged before the cap, ${refused.length} refused`);
  assert.ok(acks.length > 0, "the headroom took some sends");
  assert.ok(refused.length > 0, "the cap was reached");
  assert.deepEqual(
    new Set(refused.map((reply) => reply.error?.code)),
    new Set(["UNAVAILABLE"]),
    "a send at the cap is answered UNAVAILABLE",
  );
  assert.ok(
    refused.every((reply) => (reply.error?.retryAfterMs ?? 0) > 0),
    "with a retryAfterMs",
  );

  // Room again: the acknowledged sends reach Cassandra, nothing lost, no gap left by the refusals.
  await redis.del(filler);
  await waitForDrain(redis, cluster.prefix, SHARDS, 60_000);
  const rows = await readRooms(cluster.cassandra, [room!]);
  assertNothingLost(acks, rows, acks.length);
  const after = (await socket
    .timeout(ACK_TIMEOUT_IN_MS)
    .emitWithAck("send", { room, clientId: "maxmemory-after", text: "room again" })) as Reply;
  assert.equal(after.ok, true, "sends are accepted again once Redis has room");
  assert.equal(after.seq, acks.length + 1, "the next seq follows the acknowledged ones: refused sends took none");
});
