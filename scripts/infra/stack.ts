/**
 * The cluster's pieces, composed: the stores (Redis, Cassandra + schema) and the apps
 * (socket nodes, flusher, HAProxy gateway). `npm start` and the test harness both use it, so
 * the tests run the same bring-up a user does.
 */
import { join } from "node:path";
import { createCassandraClient } from "../../storage/cassandra/client.js";
import { migrate } from "../../storage/cassandra/migrate.js";
import type { CassandraConfig } from "../../storage/config.js";
import { startFlusher, startSocketNode, type AppProcess } from "./apps.js";
import { ensureCassandraJars, LOCAL_DATA_CENTER, startCassandra, type CassandraNode } from "./cassandra.js";
import { startGateway, type Gateway } from "./haproxy.js";
import { ensureDebianPackages } from "./install.js";
import { freePort, waitFor } from "./process.js";
import { startRedis, type AppendFsync, type RedisServer } from "./redis.js";
import { startRedisCluster, type RedisCluster } from "./redis-cluster.js";

export interface StoresOptions {
  dir: string;
  redisPort: number;
  cassandraNativePort: number;
  cassandraStoragePort: number;
  appendFsync?: AppendFsync;
  /** Extra Cassandra JVM flags (local monitoring: the JMX exporter agent). */
  cassandraJvmArgs?: string[];
  log?: (line: string) => void;
}

export interface Stores {
  redis: RedisServer;
  cassandra: CassandraNode;
  /** host:port of Cassandra's native protocol. */
  cassandraContactPoint: string;
  /** Starts Redis again on its port and AOF, Cassandra on its ports and data (after a crash); replaces the entry. */
  restartRedis(): Promise<RedisServer>;
  restartCassandra(): Promise<CassandraNode>;
  stop(): Promise<void>;
}

export async function startStores(options: StoresOptions): Promise<Stores> {
  const startTheRedis = () =>
    startRedis({ dataDir: join(options.dir, "redis"), port: options.redisPort, appendFsync: options.appendFsync });
  const stores = await startStoresWith(options, "Redis", startTheRedis);
  // The same object, so that stop() finds the restarted process.
  return Object.assign(stores, { restartRedis: async () => (stores.redis = await startTheRedis()) });
}

export interface ClusterStoresOptions extends Omit<StoresOptions, "redisPort"> {
  /** Client ports of the 6 Redis nodes and their cluster bus ports; free ports when absent. */
  redisPorts?: number[];
  redisBusPorts?: number[];
  /** cluster-node-timeout; 5 s so that a loaded machine's pauses are not taken for a dead primary. */
  nodeTimeoutInMs?: number;
}

/** The stores with a local Redis Cluster (3 primaries, 1 replica each) instead of the single Redis. */
export interface ClusterStores extends Omit<Stores, "redis" | "restartRedis"> {
  redisCluster: RedisCluster;
}

export async function startClusterStores(options: ClusterStoresOptions): Promise<ClusterStores> {
  const stores = await startStoresWith(options, "a Redis Cluster (3 primaries + 3 replicas)", () =>
    startRedisCluster({
      dir: join(options.dir, "redis-cluster"),
      primaries: 3,
      replicasPerPrimary: 1,
      ports: options.redisPorts,
      busPorts: options.redisBusPorts,
      appendFsync: options.appendFsync,
      nodeTimeoutInMs: options.nodeTimeoutInMs ?? 5000,
    }),
  );
  // No `redis` key (redisEnvFor tells the kinds apart by it); `cassandra` follows a restart.
  return {
    redisCluster: stores.redis,
    get cassandra() {
      return stores.cassandra;
    },
    cassandraContactPoint: stores.cassandraContactPoint,
    restartCassandra: stores.restartCassandra,
    stop: stores.stop,
  };
}

/** The apps' Redis settings for either kind of stores: a URL, or the cluster's seeds with one replica acknowledging each send. */
export function redisEnvFor(stores: Stores | ClusterStores): NodeJS.ProcessEnv {
  if ("redis" in stores) return { CHAT_REDIS_URL: stores.redis.url };
  return { CHAT_REDIS_CLUSTER_NODES: stores.redisCluster.seeds.join(","), CHAT_ACK_REPLICAS: "1" };
}

async function startStoresWith<R extends { stop(): Promise<void> }>(
  { dir, cassandraNativePort, cassandraStoragePort, cassandraJvmArgs, log = () => undefined }: Omit<StoresOptions, "redisPort">,
  redisName: string,
  startTheRedis: () => Promise<R>,
): Promise<Omit<Stores, "redis" | "restartRedis"> & { redis: R }> {
  ensureDebianPackages();
  await ensureCassandraJars();
  log(`starting ${redisName} and Cassandra…`);
  const startTheCassandra = () =>
    startCassandra({
      dataDir: join(dir, "cassandra"),
      logFile: join(dir, "cassandra", "stdout.log"),
      nativePort: cassandraNativePort,
      storagePort: cassandraStoragePort,
      extraJvmArgs: cassandraJvmArgs,
    });
  const [redis, cassandra] = await allOrStopAll([startTheRedis(), startTheCassandra()] as const);
  const stores = {
    redis,
    cassandra,
    cassandraContactPoint: `${cassandra.host}:${cassandra.port}`,
    restartCassandra: async () => (stores.cassandra = await startTheCassandra()),
    async stop() {
      await Promise.allSettled([stores.cassandra.stop(), stores.redis.stop()]);
    },
  };
  return stores;
}

/** Creates the keyspace and applies every migration. */
export async function migrateKeyspace(config: CassandraConfig): Promise<void> {
  const client = createCassandraClient(config, { withKeyspace: false });
  try {
    await migrate(client, config);
  } finally {
    await client.shutdown();
  }
}

export function cassandraConfigFor(contactPoint: string, keyspace: string): CassandraConfig {
  return {
    contactPoints: [contactPoint],
    localDataCenter: LOCAL_DATA_CENTER,
    keyspace,
    replicationFactor: 1,
    consistency: "LOCAL_ONE",
    username: undefined,
    password: undefined,
  };
}

export interface AppsOptions {
  dir: string;
  /** Environment shared by all app processes: storage locations, secret, prefix. */
  env: NodeJS.ProcessEnv;
  nodeCount: number;
  gatewayPort: number;
  gatewayHost?: string;
  /** Extra HAProxy sections (local monitoring: the Prometheus exporter frontend). */
  gatewayExtraConfig?: string;
}

export interface Apps {
  /** Current processes: restartNode/restartFlusher replace entries. */
  nodes: AppProcess[];
  flusher: AppProcess;
  gateway: Gateway;
  /** Stops node `index` (drain) and starts it again under the same name and port, so the gateway's config stays valid. */
  restartNode(index: number): Promise<AppProcess>;
  restartFlusher(): Promise<AppProcess>;
  /** Starts HAProxy again on the same ports and config (after a crash). */
  restartGateway(): Promise<Gateway>;
  stop(): Promise<void>;
}

export async function startApps({
  dir,
  env,
  nodeCount,
  gatewayPort,
  gatewayHost = "127.0.0.1",
  gatewayExtraConfig,
}: AppsOptions): Promise<Apps> {
  const appEnv = { HOST: "127.0.0.1", ...env };
  const nodeNames = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  // Ports chosen up front rather than PORT=0: uSockets sets SO_REUSEADDR only for a nonzero
  // port, and a node restarted on its old port must not wait out TIME_WAIT connections.
  // freePort reserves each for this process's lifetime, so nobody else's listen(0), outgoing
  // connection or freePort takes it while the node is down for a restart.
  const nodePorts = await Promise.all(nodeNames.map(() => freePort()));
  const startNode = (i: number) =>
    startSocketNode({ name: nodeNames[i]!, env: { ...appEnv, PORT: String(nodePorts[i]) }, logFile: join(dir, `${nodeNames[i]}.log`) });
  const startTheFlusher = () =>
    startFlusher({ name: "flusher-1", env: { CHAT_FLUSHER_HTTP_PORT: "0", ...appEnv }, logFile: join(dir, "flusher-1.log") });

  const [flusher, ...nodes] = await allOrStopAll([startTheFlusher(), ...nodeNames.map((_, i) => startNode(i))]);
  try {
    // A node listens before its Redis clients are ready (a Cluster client first learns the slots);
    // a gateway started then marks it down on its first check and sends every new session elsewhere.
    await Promise.all(
      nodes.map((node, i) =>
        waitFor(`${nodeNames[i]} /readyz`, async () => (await fetch(`http://127.0.0.1:${node.port}/readyz`)).status === 200, {
          timeoutInMs: 30_000,
          process: node.process,
        }),
      ),
    );
    const backends = nodeNames.map((name, i) => ({ name, host: "127.0.0.1", port: nodePorts[i]! }));
    const gateway = await startGateway(
      { bindHost: gatewayHost, bindPort: gatewayPort, backends },
      join(dir, "gateway"),
      process.env,
      gatewayExtraConfig,
    );
    const apps: Apps = {
      nodes,
      flusher: flusher!,
      gateway,
      async restartNode(index) {
        const old = apps.nodes[index];
        if (!old) throw new Error(`no node ${index}`);
        await old.stop();
        return (apps.nodes[index] = await startNode(index));
      },
      async restartFlusher() {
        await apps.flusher.stop();
        return (apps.flusher = await startTheFlusher());
      },
      async restartGateway() {
        await apps.gateway.stop();
        const statsPort = Number(new URL(apps.gateway.statsUrl).port);
        return (apps.gateway = await startGateway(
          { bindHost: gatewayHost, bindPort: gatewayPort, backends, statsPort },
          join(dir, "gateway"),
          process.env,
          gatewayExtraConfig,
        ));
      },
      async stop() {
        await apps.gateway.stop();
        await Promise.allSettled([...apps.nodes.map((node) => node.stop()), apps.flusher.stop()]);
      },
    };
    return apps;
  } catch (error) {
    await Promise.allSettled([flusher!, ...nodes].map((app) => app.stop()));
    throw error;
  }
}

/** Like Promise.all, but when one start fails, the ones that succeeded are stopped before rethrowing. */
async function allOrStopAll<T extends readonly Promise<{ stop(): Promise<void> }>[]>(
  starts: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(starts);
  const failure = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
  if (failure) {
    await Promise.allSettled(results.map((result) => (result.status === "fulfilled" ? result.value.stop() : undefined)));
    throw failure.reason;
  }
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

export interface LocalStackOptions {
  /** Data and logs (`dir/logs`). */
  dir: string;
  keyspace: string;
  jwtSecret: string;
  log?: (line: string) => void;
  /** More environment for the apps (e.g. LOG_LEVEL). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Redis and Cassandra on free ports, the keyspace migrated, and 2 socket nodes, a flusher and the
 * gateway (on a free port) on them: what the one-off commands (`npm run load:*`, `abuse`,
 * `sdk:storm`) run against. If a step fails, what was started is stopped.
 */
export async function startLocalStack({
  dir,
  keyspace,
  jwtSecret,
  log,
  env = {},
}: LocalStackOptions): Promise<{ stores: Stores; apps: Apps }> {
  const stores = await startStores({
    dir,
    redisPort: await freePort(),
    cassandraNativePort: await freePort(),
    cassandraStoragePort: await freePort(),
    log,
  });
  try {
    await migrateKeyspace(cassandraConfigFor(stores.cassandraContactPoint, keyspace));
    const apps = await startApps({
      dir: join(dir, "logs"),
      nodeCount: 2,
      gatewayPort: await freePort(),
      env: {
        CHAT_REDIS_URL: stores.redis.url,
        CHAT_CASSANDRA_CONTACT_POINTS: stores.cassandraContactPoint,
        CHAT_CASSANDRA_KEYSPACE: keyspace,
        CHAT_JWT_SECRET: jwtSecret,
        ...env,
      },
    });
    return { stores, apps };
  } catch (error) {
    await stores.stop();
    throw error;
  }
}
