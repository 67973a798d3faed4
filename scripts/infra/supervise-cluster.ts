/**
 * What the supervisor watches in a local cluster: every socket node, the flusher, the gateway,
 * and the stores when this process started them (a single Redis, or each node of a Redis
 * Cluster; Cassandra). Shared by `npm start` and the tests, so the tests kill the same
 * supervised stack a user runs.
 */
import type { RedisServer } from "./redis.js";
import type { ClusterStores, Apps, Stores } from "./stack.js";
import { Supervisor, type SupervisedComponent, type SupervisorOptions } from "./supervisor.js";

/** The stores to supervise: what startStores/startClusterStores return, or a test's own Redis. */
export type SupervisedStores = Stores | ClusterStores | { redis: RedisServer; restartRedis(): Promise<unknown> };

export function superviseCluster(apps: Apps, stores: SupervisedStores | undefined, options: SupervisorOptions): Supervisor {
  const supervisor = new Supervisor(options);
  const components: SupervisedComponent[] = [
    ...apps.nodes.map((node, index) => ({
      name: node.process.name,
      current: () => apps.nodes[index]!.process,
      // Same name and port: the gateway's config stays valid, and it marks the node up again.
      restart: async () => void (await apps.restartNode(index)),
    })),
    { name: apps.flusher.process.name, current: () => apps.flusher.process, restart: async () => void (await apps.restartFlusher()) },
    { name: "haproxy gateway", current: () => apps.gateway.process, restart: async () => void (await apps.restartGateway()) },
  ];
  if (stores && "redis" in stores) {
    // On its AOF: what was acknowledged before the crash is replayed before it answers PING.
    components.push({ name: "redis", current: () => stores.redis.process, restart: async () => void (await stores.restartRedis()) });
  }
  if (stores && "redisCluster" in stores) {
    const cluster = stores.redisCluster;
    for (const node of cluster.nodes) {
      components.push({
        name: `redis ${node.address}`,
        current: () => node.process,
        // On its own AOF and nodes.conf; it rejoins (as a replica if its replica took over meanwhile).
        restart: async () => {
          await cluster.kill(node);
          await cluster.restartNode(node);
        },
      });
    }
  }
  if (stores && "restartCassandra" in stores) {
    // On its data dir: commit log replayed.
    components.push({
      name: "cassandra",
      current: () => stores.cassandra.process,
      restart: async () => void (await stores.restartCassandra()),
    });
  }
  for (const component of components) supervisor.watch(component);
  return supervisor;
}
