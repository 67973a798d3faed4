/**
 * One of three Cassandra nodes down, RF 3, LOCAL_QUORUM: a 3-node cluster on 127.0.0.1-3
 * (scripts/infra/cassandra-cluster.ts) and a Redis of this test's own. Node 3 is killed -9
 * under load; writes and reads at LOCAL_QUORUM need 2 of 3 replicas, so every acknowledged
 * message is still stored, and read back at LOCAL_QUORUM with the node still down.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import cassandra from "cassandra-driver";
import { startCassandraCluster, type CassandraCluster } from "../../scripts/infra/cassandra-cluster.js";
import {
  faultDir,
  freshKeyspace,
  roomsFor,
  SHARDS,
  startFaultCluster,
  startOwnRedis,
  type FaultCluster,
  type OwnRedis,
} from "./cluster.js";
import { sendKnownSet } from "./known-set.js";
import { assertNothingLost, readRooms, waitForDrain } from "./verify.js";

const COUNT = 3000;
let cluster: FaultCluster | undefined;
let redis: OwnRedis | undefined;
let ring: CassandraCluster | undefined;
after(async () => {
  await cluster?.stop();
  await Promise.allSettled([ring?.stop(), redis?.server.stop()]);
});

test("one of three Cassandra nodes down, RF 3, LOCAL_QUORUM: lost = 0, duplicates = 0", { timeout: 600_000 }, async () => {
  const started = Date.now();
  const dir = faultDir("three-nodes");
  [ring, redis] = await Promise.all([startCassandraCluster({ dataDir: dir }), startOwnRedis(dir, "everysec")]);
  console.log(`# three nodes: 3-node Cassandra cluster up in ${ring.startSeconds.toFixed(1)} s`);
  const config = await freshKeyspace(ring.contactPoints, { replicationFactor: 3, consistency: "LOCAL_QUORUM" });
  cluster = await startFaultCluster({ dir, redisUrl: redis.server.url, cassandra: config, nodeCount: 2 });
  const rooms = roomsFor("three-nodes", 6);
  const victim = ring.nodes[2]!;
  const sent = await sendKnownSet({
    url: cluster.url,
    token: cluster.token,
    rooms,
    users: 4,
    count: COUNT,
    ratePerSecond: 300,
    deadlineInMs: 120_000,
    onProgress: { fraction: 0.3, run: () => victim.process.kill() },
  });
  assert.equal(await victim.process.exited, "SIGKILL");
  await waitForDrain(cluster.redis, cluster.prefix, SHARDS, 120_000);
  // Read at LOCAL_QUORUM with node 3 still down: 2 replicas of 3 answer each row.
  const rows = await readRooms(cluster.cassandra, rooms, cassandra.types.consistencies.localQuorum);
  assertNothingLost(sent.acks, rows, COUNT);
  const replication = (
    await cluster.cassandra.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", [config.keyspace])
  ).first()?.["replication"] as Record<string, string>;
  assert.equal(replication["datacenter1"], "3");
  console.log(
    `# three nodes: ${COUNT} messages in ${sent.seconds.toFixed(1)} s with node 3 killed at 30 %; test ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
});
