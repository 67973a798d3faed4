/**
 * The local Redis Cluster (scripts/infra/redis-cluster.ts) on real redis-server processes:
 * it forms 3 primaries + 3 replicas, spreads keys over every primary, promotes a replica when
 * a primary is killed with SIGKILL, and leaves no process behind when stopped.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Cluster, Redis } from "ioredis";
import { startRedisCluster, type RedisCluster, type RedisClusterNode } from "../../scripts/infra/redis-cluster.js";

const dir = mkdtempSync(join(tmpdir(), "chat-redis-cluster-"));
let cluster: RedisCluster;
let client: Cluster;

before(async () => {
  cluster = await startRedisCluster({ dir, primaries: 3, replicasPerPrimary: 1, appendFsync: "everysec", nodeTimeoutInMs: 2000 });
  client = new Cluster(
    cluster.seeds.map((seed) => ({ host: seed.split(":")[0], port: Number(seed.split(":")[1]) })),
    { redisOptions: { maxRetriesPerRequest: 3 } },
  );
  client.on("error", () => undefined);
});

after(async () => {
  client?.disconnect();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A direct connection to one node, not routed by slot: to see where a key really lives. */
async function onNode<T>(node: RedisClusterNode, question: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: "127.0.0.1", port: node.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return await question(redis);
  } finally {
    redis.disconnect();
  }
}

/** One key per primary, found by asking the cluster which slot a candidate key falls in. */
async function keysOnEveryPrimary(): Promise<Map<RedisClusterNode, string>> {
  const byPrimary = new Map<RedisClusterNode, string>();
  for (let i = 0; byPrimary.size < 3; i++) {
    assert.ok(i < 200, "200 keys never covered the 3 primaries");
    const key = `spread:${i}`;
    const { primary } = await cluster.ownerOfKey(key);
    if (!byPrimary.has(primary)) byPrimary.set(primary, key);
  }
  return byPrimary;
}

test("forms 3 primaries with one synced replica each, on the ports it reports", async () => {
  const owners = await cluster.topology();
  assert.equal(owners.length, 3);
  assert.equal(new Set(owners.map((owner) => owner.primary)).size, 3);
  for (const owner of owners) {
    assert.equal(owner.primary.role, "primary");
    assert.equal(owner.replicas.length, 1);
    assert.equal(owner.replicas[0]!.role, "replica");
    const replication = await onNode(owner.replicas[0]!, (redis) => redis.info("replication"));
    assert.match(replication, /master_link_status:up/);
    assert.match(replication, new RegExp(`master_port:${owner.primary.port}\\r?\\n`));
  }
  assert.equal(cluster.nodes.filter((node) => node.role === "primary").length, 3);
  assert.equal(cluster.seeds.length, 6);
});

test("keys written through a cluster client land on the primary that owns their slot", async () => {
  const keys = await keysOnEveryPrimary();
  for (const [primary, key] of keys) {
    await client.set(key, `value of ${key}`);
    assert.equal(await onNode(primary, (redis) => redis.get(key)), `value of ${key}`);
  }
  // A hash tag pins different keys to one slot (the layout the send path relies on).
  assert.equal(await cluster.slotOf("{room-7}:seq"), await cluster.slotOf("{room-7}:stream"));
});

test("pausing a replica makes WAIT on its primary time out; resuming it lets WAIT succeed", async () => {
  const key = "paused:write";
  const owner = await cluster.ownerOfKey(key);
  const replica = owner.replicas[0]!;
  cluster.pause(replica);
  try {
    const acked = await onNode(owner.primary, async (redis) => {
      await redis.set(key, "1");
      return redis.call("wait", 1, 300);
    });
    assert.equal(acked, 0);
  } finally {
    cluster.resume(replica);
  }
  assert.equal(await onNode(owner.primary, (redis) => redis.call("wait", 1, 5000)), 1);
});

test("kill -9 of a primary: its replica is promoted and still has the primary's keys", async () => {
  const key = "failover:key";
  await client.set(key, "before the failover");
  const slot = await cluster.slotOf(key);
  const { primary, replicas } = await cluster.ownerOfSlot(slot);
  // The write reached the replica before the kill, so the promoted replica must serve it.
  assert.equal(await onNode(primary, (redis) => redis.call("wait", 1, 5000)), 1);

  const killed = await cluster.killPrimaryOfSlot(slot);
  assert.equal(killed, primary);
  assert.notEqual(killed.process.child.signalCode, null, "the killed primary's process is gone");
  const promoted = await cluster.waitForFailover(slot, killed);
  assert.equal(promoted, replicas[0], "the dead primary's own replica took over");
  assert.equal(promoted.role, "primary");
  assert.equal(await client.get(key), "before the failover");
  await client.set(key, "after the failover");
  assert.equal(await onNode(promoted, (redis) => redis.get(key)), "after the failover");
});

test("stop() leaves no redis-server process behind, and a start on the same data finds the cluster and its keys", async () => {
  const pids = cluster.nodes.map((node) => node.process.child.pid!);
  await cluster.stop();
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, `redis-server ${pid} still exists`);
  }
  client.disconnect();

  // npm start run again: same ports, same directory, so nodes.conf and the AOFs are reused.
  cluster = await startRedisCluster({
    dir,
    ports: cluster.nodes.map((node) => node.port),
    busPorts: cluster.nodes.map((node) => node.busPort),
    nodeTimeoutInMs: 2000,
  });
  client = new Cluster([{ host: "127.0.0.1", port: cluster.nodes[0]!.port }]);
  client.on("error", () => undefined);
  assert.equal((await cluster.topology()).length, 3);
  assert.equal(await client.get("failover:key"), "after the failover");
});
