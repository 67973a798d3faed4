/**
 * The send path on a real 3 + 3 Redis Cluster: every room's append runs (no CROSSSLOT) on
 * whichever primary owns its shard, and with CHAT_ACK_REPLICAS=1 a send is acknowledged only
 * when the replica of *that* primary has it: a paused replica turns the send into
 * NotReplicatedError (the node answers UNAVAILABLE); once it is back, the retry with the same
 * clientId gets the first receipt as a duplicate, and the message is stored once.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startRedisCluster, type RedisCluster } from "../../scripts/infra/redis-cluster.js";
import { DEFAULT_STREAM_CONFIG, parseNodeAddress } from "../../storage/config.js";
import { RedisKeys } from "../../storage/keys.js";
import { createRedisClient, type RedisClient } from "../../storage/redis-client.js";
import { MessageBuffer, NotReplicatedError, type LatestSeqSource } from "../../storage/stream/producer.js";

const dir = mkdtempSync(join(tmpdir(), "chat-ack-replicas-"));
let cluster: RedisCluster;
let client: RedisClient;
const clientErrors: Error[] = [];
const newRoom: LatestSeqSource = { latestOf: async () => ({ seq: 0, ts: 0 }) };

before(async () => {
  // A long node timeout: the paused replica must not be failed over or forgotten meanwhile.
  cluster = await startRedisCluster({ dir, primaries: 3, replicasPerPrimary: 1, appendFsync: "everysec", nodeTimeoutInMs: 15_000 });
  const config = {
    url: "",
    clusterNodes: cluster.seeds.map((seed) => parseNodeAddress("seed", seed)),
    password: undefined,
    tls: undefined,
    keyPrefix: "t:",
    ackReplicas: 1,
    ackTimeoutInMs: 300,
  };
  client = createRedisClient(config, { name: "test", onError: (error) => clientErrors.push(error), maxRetriesPerRequest: 2 });
});

after(async () => {
  client?.disconnect();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("rooms on every shard take sends, rate token and append in their own slots, on all three primaries", async () => {
  const keys = new RedisKeys("spread:", DEFAULT_STREAM_CONFIG.shards);
  const buffer = new MessageBuffer(
    client,
    keys,
    DEFAULT_STREAM_CONFIG,
    newRoom,
    { perSecond: 1000, burst: 1000 },
    { count: 1, timeoutInMs: 1000 },
  );
  const rooms: string[] = [];
  const shards = new Set<number>();
  for (let i = 0; shards.size < keys.shardCount; i++) {
    const room = `room-${i}`;
    if (!shards.has(keys.shardOf(room))) rooms.push(room);
    shards.add(keys.shardOf(room));
  }
  const outcomes = await Promise.all(
    rooms.flatMap((room) => [1, 2, 3].map((n) => buffer.append({ room, from: `user-${n}`, clientId: `c${n}`, text: "hi" }))),
  );
  assert.deepEqual([...new Set(outcomes.map((outcome) => outcome.kind))], ["stored"]);
  const primaries = new Set(await Promise.all(keys.streams().map(async (stream) => (await cluster.ownerOfKey(stream)).primary.port)));
  assert.equal(primaries.size, 3, "the shard streams live on every primary");
  for (const stream of keys.streams()) assert.equal(await client.xlen(stream), 3);
});

test("a paused replica turns the send into NotReplicatedError; after it resumes the retry gets the first receipt", async () => {
  const keys = new RedisKeys("ack:", DEFAULT_STREAM_CONFIG.shards);
  const buffer = new MessageBuffer(
    client,
    keys,
    DEFAULT_STREAM_CONFIG,
    newRoom,
    { perSecond: 20, burst: 40 },
    { count: 1, timeoutInMs: 300 },
  );
  const room = "lobby";
  const first = await buffer.append({ room, from: "alice", clientId: "c1", text: "one" });
  assert.equal(first.kind, "stored");

  const owner = await cluster.ownerOfKey(keys.streamOf(room));
  const replica = owner.replicas[0]!;
  cluster.pause(replica);
  try {
    const started = Date.now();
    await assert.rejects(
      buffer.append({ room, from: "alice", clientId: "c2", text: "two" }),
      (error: unknown) => error instanceof NotReplicatedError && error.replicas === 0 && error.required === 1,
    );
    assert.ok(Date.now() - started >= 250, "WAIT waited for the replica");
  } finally {
    cluster.resume(replica);
  }

  const retry = await buffer.append({ room, from: "alice", clientId: "c2", text: "two" });
  assert.ok(retry.kind === "duplicate", `the retry is a duplicate, got ${retry.kind}`);
  assert.ok(first.kind === "stored");
  assert.equal(retry.receipt.seq, first.message.seq + 1);
  const entries = (await client.xrange(keys.streamOf(room), "-", "+")).map(
    ([, fields]) => JSON.parse(fields[1]!) as { clientId: string; id: string; seq: number },
  );
  const stored = entries.filter((entry) => entry.clientId === "c2");
  assert.equal(stored.length, 1, "stored once");
  assert.equal(stored[0]!.id, retry.receipt.id, "the receipt is the first attempt's");
  assert.deepEqual(
    clientErrors.filter((error) => !/ECONNRESET|ECONNREFUSED/.test(error.message)),
    [],
  );
});
