/**
 * On a Redis Cluster the local monitoring watches every node, not only the first seed: six
 * exporters (3 primaries, 3 replicas) scraped by Prometheus, and losing any one node (here a
 * replica, which no client would notice) fires ChatRedisDown for that node. A Redis Cluster of
 * its own, so no other test file sees the kill.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startMonitoring, type Monitoring } from "../../scripts/infra/monitoring.js";
import { freePort } from "../../scripts/infra/process.js";
import { startRedisCluster, type RedisCluster } from "../../scripts/infra/redis-cluster.js";
import { activeAlerts, instantQuery } from "./prometheus-client.js";

let cluster: RedisCluster;
let monitoring: Monitoring;

before(async () => {
  const dir = join(process.env.CHAT_TEST_LOG_DIR ?? tmpdir(), `ops-redis-cluster-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  cluster = await startRedisCluster({ dir: join(dir, "redis-cluster"), primaries: 3, replicasPerPrimary: 1, nodeTimeoutInMs: 5000 });
  monitoring = await startMonitoring({
    dir: join(dir, "monitoring"),
    prometheusPort: await freePort(),
    redisUrls: cluster.seedUrls,
    redisStreams: ["chat:{s0}:dead-letter"],
    nodes: [],
    flushers: [],
    scrapeIntervalInSeconds: 1,
    alertForOverride: "2s",
  });
});

after(async () => {
  await monitoring?.stop();
  await cluster?.stop();
});

/** The `pod` label of every Redis target for which `query` returns a series. */
async function podsWhere(query: string): Promise<string[]> {
  const result = await instantQuery(monitoring.prometheusUrl, query);
  assert.equal(result.status, "success", result.error);
  return (result.data?.result ?? []).map((series) => series.metric.pod!).sort();
}

const podOf = (port: number) => `redis-${port}`;

test("every node of the Redis Cluster is scraped, with its role", async () => {
  const everyPod = cluster.nodes.map((node) => podOf(node.port)).sort();
  let up: string[] = [];
  for (let i = 0; i < 40 && up.length < everyPod.length; i++) {
    await sleep(500);
    up = await podsWhere('redis_up{job="redis"} == 1');
  }
  assert.deepEqual(up, everyPod, "one exporter per node, each reaching its Redis");

  await cluster.topology();
  const byRole = (role: "primary" | "replica") =>
    cluster.nodes
      .filter((node) => node.role === role)
      .map((node) => podOf(node.port))
      .sort();
  assert.deepEqual(await podsWhere('redis_instance_info{job="redis", role="master"}'), byRole("primary"));
  assert.deepEqual(await podsWhere('redis_instance_info{job="redis", role="slave"}'), byRole("replica"));
});

test("a lost replica fires ChatRedisDown for that node only", async () => {
  await cluster.topology();
  const replica = cluster.nodes.find((node) => node.role === "replica");
  assert.ok(replica, "the cluster has a replica");
  await cluster.kill(replica);
  const since = Date.now();
  let firingFor: string[] = [];
  while (Date.now() - since < 60_000 && firingFor.length === 0) {
    await sleep(500);
    firingFor = (await activeAlerts(monitoring.prometheusUrl))
      .filter((alert) => alert.labels.alertname === "ChatRedisDown" && alert.state === "firing")
      .map((alert) => alert.labels.pod!);
  }
  assert.deepEqual([...new Set(firingFor)], [podOf(replica.port)], "ChatRedisDown names the killed node, and no other");
  console.log(
    `ChatRedisDown for the killed replica ${replica.address} firing after ${((Date.now() - since) / 1000).toFixed(1)} s (for: 2s)`,
  );
});
