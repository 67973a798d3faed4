/**
 * Socket nodes and flusher on a real 3 + 3 Redis Cluster (CHAT_REDIS_CLUSTER_NODES, ack
 * replicas 1): sends are acknowledged and delivered across nodes through the sharded adapter,
 * and a node with no member of a room is not subscribed to the room's channel, so Redis sends
 * it none of that room's messages (measured: PUBSUB SHARDNUMSUB on the primary that owns the
 * channel's slot); the channel is dropped when the last member leaves.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { io as connect, type Socket } from "socket.io-client";
import { startRedisCluster, type RedisCluster } from "../../scripts/infra/redis-cluster.js";
import { RedisKeys } from "../../storage/keys.js";
import { eventually, request, startTestCluster, type TestCluster } from "../fixture.js";

const dir = mkdtempSync(join(tmpdir(), "chat-sharded-fanout-"));
let redisCluster: RedisCluster;
let chat: TestCluster;
const sockets: Socket[] = [];

before(async () => {
  redisCluster = await startRedisCluster({ dir, primaries: 3, replicasPerPrimary: 1, appendFsync: "everysec", nodeTimeoutInMs: 5000 });
  chat = await startTestCluster({ nodeCount: 2, env: { CHAT_REDIS_CLUSTER_NODES: redisCluster.seeds.join(","), CHAT_ACK_REPLICAS: "1" } });
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  await chat?.stop();
  await redisCluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A client connected to node `index` directly, so the test knows where each member is. */
async function memberOn(index: number, user: string, rooms: string[]): Promise<Socket> {
  const socket = connect(chat.nodeUrl(index), {
    auth: { token: await chat.token(user, rooms) },
    reconnection: false,
    forceNew: true,
    transports: ["websocket"],
  });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  for (const room of rooms) assert.equal((await request<{ ok: boolean }>(socket, "join", { room })).ok, true);
  return socket;
}

/** Subscribers of the room's sharded channel: one per node with a member in the room. */
async function nodesSubscribedTo(room: string): Promise<number> {
  const channel = `${new RedisKeys(chat.prefix, 1).fanoutChannelPrefix()}#/#${room}#`;
  const { primary } = await redisCluster.ownerOfKey(channel);
  const redis = new Redis({ host: "127.0.0.1", port: primary.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    const [, count] = (await redis.call("pubsub", "shardnumsub", channel)) as [string, number];
    return count;
  } finally {
    redis.disconnect();
  }
}

test("messages reach the nodes with members of the room and no other node", async () => {
  const local = `local-${Date.now().toString(36)}`;
  const shared = `shared-${Date.now().toString(36)}`;
  const alice = await memberOn(0, "alice", [local, shared]);
  const bob = await memberOn(0, "bob", [local]);
  const carol = await memberOn(1, "carol", [shared]);

  assert.equal(await nodesSubscribedTo(local), 1, "only node 0 has members of the local room");
  assert.equal(await nodesSubscribedTo(shared), 2);

  const COUNT = 20;
  const bobGot = new Set<number>();
  const carolGot = new Set<number>();
  const carolGotLocal: unknown[] = [];
  bob.on("message", (m: { room: string; seq: number }) => m.room === local && bobGot.add(m.seq));
  carol.on("message", (m: { room: string; seq: number }) => (m.room === shared ? carolGot.add(m.seq) : carolGotLocal.push(m)));
  for (let i = 0; i < COUNT; i++) {
    for (const room of [local, shared]) {
      const ack = await request<{ ok: boolean; seq: number }>(alice, "send", { room, clientId: `${room}-${i}`, text: `hi ${i}` });
      assert.equal(ack.ok, true, JSON.stringify(ack));
    }
  }
  await eventually("bob has the local room's messages and carol the shared room's", async () =>
    bobGot.size === COUNT && carolGot.size === COUNT ? true : undefined,
  );
  assert.deepEqual(carolGotLocal, [], "node 1 delivered nothing of a room it has no member in");
  // Still 1 after the traffic: node 1 never subscribed, so Redis sent it none of those 20.
  assert.equal(await nodesSubscribedTo(local), 1);

  // The last member on node 1 leaves: its subscription goes.
  assert.equal((await request<{ ok: boolean }>(carol, "leave", { room: shared })).ok, true);
  await eventually("node 1 unsubscribed", async () => ((await nodesSubscribedTo(shared)) === 1 ? true : undefined));
});
