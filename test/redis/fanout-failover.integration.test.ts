/**
 * Messages that never came through pub/sub, on a real 3 + 3 Redis Cluster with two socket
 * nodes. First the mechanism, made deterministic: messages appended to the room's log without
 * any publish (what a node misses while its channel's primary fails over) reach a listening
 * member through the node's room catch-up, without the member sending anything. Then the real
 * fault: the primary owning the room's sharded channel is killed with SIGKILL while one member
 * sends and a member on the other node only listens; the listener ends with every
 * acknowledged message (figures printed: how many arrived live).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { io as connect, type Socket } from "socket.io-client";
import { startRedisCluster, type RedisCluster } from "../../scripts/infra/redis-cluster.js";
import { DEFAULT_STREAM_CONFIG, parseNodeAddress } from "../../storage/config.js";
import { RedisKeys } from "../../storage/keys.js";
import { createRedisClient } from "../../storage/redis-client.js";
import { MessageBuffer } from "../../storage/stream/producer.js";
import { eventually, request, startTestCluster, type TestCluster } from "../fixture.js";

const dir = mkdtempSync(join(tmpdir(), "chat-fanout-failover-"));
let redisCluster: RedisCluster;
let chat: TestCluster;
const sockets: Socket[] = [];

before(async () => {
  redisCluster = await startRedisCluster({ dir, primaries: 3, replicasPerPrimary: 1, appendFsync: "everysec", nodeTimeoutInMs: 2000 });
  chat = await startTestCluster({ nodeCount: 2, env: { CHAT_REDIS_CLUSTER_NODES: redisCluster.seeds.join(","), CHAT_ACK_REPLICAS: "0" } });
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  await chat?.stop();
  await redisCluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function memberOn(index: number, user: string, room: string): Promise<Socket> {
  const socket = connect(chat.nodeUrl(index), {
    auth: { token: await chat.token(user, [room]) },
    reconnection: false,
    forceNew: true,
    transports: ["websocket"],
  });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  assert.equal((await request<{ ok: boolean }>(socket, "join", { room })).ok, true);
  return socket;
}

test("messages stored but never published reach the room's sockets through the catch-up", async () => {
  const room = `unpublished-${Date.now().toString(36)}`;
  const alice = await memberOn(0, "alice", room);
  const bob = await memberOn(1, "bob", room);
  const got = { alice: new Set<number>(), bob: new Set<number>() };
  alice.on("message", (m: { room: string; seq: number }) => m.room === room && got.alice.add(m.seq));
  bob.on("message", (m: { room: string; seq: number }) => m.room === room && got.bob.add(m.seq));
  assert.equal((await request<{ ok: boolean }>(alice, "send", { room, clientId: "live", text: "live" })).ok, true);
  await eventually("both got the live message", async () => (got.alice.size === 1 && got.bob.size === 1 ? true : undefined));

  const redis = createRedisClient(
    {
      url: "",
      clusterNodes: redisCluster.seeds.map((seed) => parseNodeAddress("seed", seed)),
      password: undefined,
      tls: undefined,
      keyPrefix: chat.prefix,
      ackReplicas: 0,
      ackTimeoutInMs: 1,
    },
    { name: "test", onError: () => undefined },
  );
  try {
    const buffer = new MessageBuffer(redis, new RedisKeys(chat.prefix, DEFAULT_STREAM_CONFIG.shards), DEFAULT_STREAM_CONFIG, {
      latestOf: async () => assert.fail("the room is seeded"),
    });
    for (let i = 0; i < 5; i++)
      assert.equal((await buffer.append({ room, from: "carol", clientId: `silent-${i}`, text: "never published" })).kind, "stored");
  } finally {
    redis.disconnect();
  }
  const appendedAt = Date.now();
  await eventually(
    "both members got seqs 2..6 without sending",
    async () => (got.alice.size === 6 && got.bob.size === 6 ? true : undefined),
    15_000,
  );
  console.log(`catch-up: the unpublished messages reached both members ${Date.now() - appendedAt} ms after they were stored`);
});

test(
  "a listener on another node gets every acknowledged message across the failover of the channel's primary",
  { timeout: 120_000 },
  async () => {
    const room = `failover-${Date.now().toString(36)}`;
    const alice = await memberOn(0, "alice", room);
    const bob = await memberOn(1, "bob", room);
    const bobGot = new Set<number>();
    bob.on("message", (m: { room: string; seq: number }) => m.room === room && bobGot.add(m.seq));

    const acked = new Set<number>();
    let failedAttempts = 0;
    const sendAll = async (from: number, count: number) => {
      for (let i = from; i < from + count; i++) {
        for (;;) {
          const ack = await request<{ ok: boolean; seq?: number }>(alice, "send", { room, clientId: `c${i}`, text: `m ${i}` }).catch(
            () => ({ ok: false }) as { ok: boolean; seq?: number },
          );
          if (ack.ok && ack.seq !== undefined) {
            acked.add(ack.seq);
            break;
          }
          failedAttempts++;
          await sleep(200);
        }
        await sleep(50);
      }
    };
    await sendAll(0, 10);
    await eventually("bob is live", async () => (bobGot.size === 10 ? true : undefined));

    const channel = `${new RedisKeys(chat.prefix, 1).fanoutChannelPrefix()}#/#${room}#`;
    const slot = await redisCluster.slotOf(channel);
    const sending = sendAll(10, 140);
    await sleep(1000);
    const victim = await redisCluster.killPrimaryOfSlot(slot);
    await redisCluster.waitForFailover(slot, victim);
    await sending;
    const liveAtEnd = bobGot.size;
    await eventually(
      "bob has every acknowledged message",
      async () => ([...acked].every((seq) => bobGot.has(seq)) ? true : undefined),
      20_000,
    );
    console.log(
      `fanout failover: ${JSON.stringify({ acknowledged: acked.size, failedSendAttempts: failedAttempts, bobWhenSendingEnded: liveAtEnd, bobAtEnd: bobGot.size })}`,
    );
    assert.equal(acked.size, 150);
  },
);
