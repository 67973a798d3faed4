/**
 * What the supervisor watches in a local cluster: every socket node, the flusher, the gateway,
 * and the stores when this process started them. Shared by `npm start` and the tests, so the
 * tests kill the same supervised stack a user runs.
 */
import type { Apps, Stores } from "./stack.js";
import { Supervisor, type SupervisedComponent, type SupervisorOptions } from "./supervisor.js";

export function superviseCluster(apps: Apps, stores: Pick<Stores, "redis" | "restartRedis"> & Partial<Pick<Stores, "cassandra" | "restartCassandra">> | undefined, options: SupervisorOptions): Supervisor {
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
  if (stores) {
    // On its AOF: what was acknowledged before the crash is replayed before it answers PING.
    components.push({ name: "redis", current: () => stores.redis.process, restart: async () => void (await stores.restartRedis()) });
    const { restartCassandra } = stores;
    if (stores.cassandra && restartCassandra) {
      components.push({ name: "cassandra", current: () => stores.cassandra!.process, restart: async () => void (await restartCassandra()) });
    }
  }
  for (const component of components) supervisor.watch(component);
  return supervisor;
}
