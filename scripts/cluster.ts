/**
 * `npm start`: the whole local cluster in the foreground (docs/protocol.md "Local cluster").
 * Installs what is missing, starts Redis, Cassandra (schema migrated), two socket nodes, a
 * flusher and the HAProxy gateway, prints the URL and a dev token, and stops everything it
 * started on SIGINT/SIGTERM.
 *
 * CHAT_LOCAL_REDIS=cluster starts a Redis Cluster instead of the single Redis: 3 primaries and 3
 * replicas on CHAT_LOCAL_REDIS_PORT … +5 (cluster bus ports 10000 higher), and the apps run on it
 * with CHAT_ACK_REPLICAS=1 (a send is acknowledged once a replica has it too).
 *
 * Ports (env): GATEWAY_PORT 8080, CHAT_LOCAL_REDIS_PORT 6379, CHAT_LOCAL_CASSANDRA_PORT 9042,
 * CHAT_LOCAL_CASSANDRA_STORAGE_PORT 7000. Data and logs: CHAT_LOCAL_DATA_DIR, default .data/ (git-ignored).
 * CHAT_LOCAL_MONITORING=1 also starts Prometheus (PROMETHEUS_PORT 9090) and Alertmanager
 * (scripts/infra/monitoring.ts).
 */
import { join } from "node:path";
import { EnvReader } from "../common/env.js";
import { DEV_JWT_SECRET, mintToken } from "./lib/tokens.js";
import { DATA_ROOT } from "./infra/paths.js";
import { DEFAULT_STREAM_CONFIG } from "../storage/config.js";
import { RedisKeys } from "../storage/keys.js";
import { jmxExporterAgentFlag } from "./infra/jmx-exporter.js";
import { ensureMonitoringPackages, gatewayMetricsConfig, startMonitoring, type Monitoring } from "./infra/monitoring.js";
import { freePort, isPortOpen } from "./infra/process.js";
import {
  cassandraConfigFor,
  migrateKeyspace,
  redisEnvFor,
  startApps,
  startClusterStores,
  startStores,
  type Apps,
  type ClusterStores,
  type Stores,
} from "./infra/stack.js";
import { superviseCluster } from "./infra/supervise-cluster.js";
import type { Supervisor } from "./infra/supervisor.js";

const started = Date.now();
const env = new EnvReader();
const gatewayPort = env.integer("GATEWAY_PORT", 8080, { min: 1, max: 65535 });
const redisMode = env.oneOf("CHAT_LOCAL_REDIS", ["single", "cluster"] as const, "single");
const redisPort = env.integer("CHAT_LOCAL_REDIS_PORT", 6379, { min: 1, max: redisMode === "cluster" ? 55530 : 65535 });
// Cluster mode: 6 consecutive client ports, each with its cluster bus port 10000 higher.
const redisClusterPorts = Array.from({ length: 6 }, (_, i) => redisPort + i);
const redisClusterBusPorts = redisClusterPorts.map((port) => port + 10000);
const cassandraPort = env.integer("CHAT_LOCAL_CASSANDRA_PORT", 9042, { min: 1, max: 65535 });
const cassandraStoragePort = env.integer("CHAT_LOCAL_CASSANDRA_STORAGE_PORT", 7000, { min: 1, max: 65535 });
const appendFsync = env.oneOf("CHAT_REDIS_APPENDFSYNC", ["always", "everysec", "no"] as const, "everysec");
const keyspace = env.string("CHAT_CASSANDRA_KEYSPACE", "chat");
const secret = env.optionalString("CHAT_JWT_SECRET");
const dataDir = env.string("CHAT_LOCAL_DATA_DIR", DATA_ROOT);
const monitoringOn = env.oneOf("CHAT_LOCAL_MONITORING", ["0", "1"] as const, "0") === "1";
const prometheusPort = env.integer("PROMETHEUS_PORT", 9090, { min: 1, max: 65535 });
const redisPrefix = env.string("CHAT_REDIS_PREFIX", "chat:");
/** The shard streams' dead-letter streams, for the Redis exporter (same defaults as the apps). */
const deadLetterKeys = new RedisKeys(redisPrefix, env.integer("CHAT_STREAM_SHARDS", DEFAULT_STREAM_CONFIG.shards, { min: 1, max: 1024 }));

const log = (line: string) => console.log(`[cluster +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);

const redisPorts: Array<readonly [string, number]> =
  redisMode === "cluster"
    ? [
        ...redisClusterPorts.map((port) => ["redis cluster node", port] as const),
        ...redisClusterBusPorts.map((port) => ["redis cluster bus", port] as const),
      ]
    : [["redis", redisPort]];
const ports: Array<readonly [string, number]> = [
  ["gateway", gatewayPort],
  ...redisPorts,
  ["cassandra", cassandraPort],
  ["cassandra storage", cassandraStoragePort],
];
if (monitoringOn) ports.push(["prometheus", prometheusPort]);
for (const [name, port] of ports) {
  if (await isPortOpen(port)) {
    console.error(
      `port ${port} (${name}) is already in use: is another cluster running? Stop it, or set the port's variable (see scripts/cluster.ts).`,
    );
    process.exit(1);
  }
}

let stores: Stores | ClusterStores | undefined;
let apps: Apps | undefined;
let monitoring: Monitoring | undefined;
let supervisor: Supervisor | undefined;
let stopping = false;
async function stopAll(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    log("stopping…");
    await supervisor?.stop();
    await monitoring?.stop();
    await apps?.stop();
    await stores?.stop();
    log("stopped");
  }
  process.exit(exitCode);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void stopAll(0));

const cassandraMetricsPort = monitoringOn ? await freePort() : undefined;
const gatewayMetricsPort = monitoringOn ? await freePort() : undefined;
try {
  if (monitoringOn) ensureMonitoringPackages();
  const cassandraJvmArgs = cassandraMetricsPort
    ? [await jmxExporterAgentFlag(join(dataDir, "monitoring", "cassandra"), cassandraMetricsPort)]
    : [];
  const storeOptions = { dir: dataDir, cassandraNativePort: cassandraPort, cassandraStoragePort, appendFsync, cassandraJvmArgs, log };
  stores =
    redisMode === "cluster"
      ? await startClusterStores({ ...storeOptions, redisPorts: redisClusterPorts, redisBusPorts: redisClusterBusPorts })
      : await startStores({ ...storeOptions, redisPort });
  const redisLine =
    "redis" in stores
      ? `Redis ${stores.redis.url}`
      : `Redis Cluster ${stores.redisCluster.seeds.join(",")} (3 primaries + 3 replicas, CHAT_ACK_REPLICAS=1)`;
  log(`${redisLine} (appendfsync ${appendFsync}), Cassandra ${stores.cassandraContactPoint}`);
  await migrateKeyspace(cassandraConfigFor(stores.cassandraContactPoint, keyspace));
  log(`schema applied to keyspace ${keyspace}`);
  apps = await startApps({
    dir: join(dataDir, "logs"),
    nodeCount: 2,
    gatewayPort,
    gatewayExtraConfig: gatewayMetricsPort ? gatewayMetricsConfig(gatewayMetricsPort) : undefined,
    env: {
      ...redisEnvFor(stores),
      CHAT_CASSANDRA_CONTACT_POINTS: stores.cassandraContactPoint,
      CHAT_CASSANDRA_KEYSPACE: keyspace,
      CHAT_JWT_SECRET: secret ?? DEV_JWT_SECRET,
    },
  });
  log(`nodes ${apps.nodes.map((node) => `127.0.0.1:${node.port}`).join(", ")}, flusher metrics :${apps.flusher.port}`);
  if (gatewayMetricsPort) {
    monitoring = await startMonitoring({
      dir: join(dataDir, "monitoring"),
      prometheusPort,
      redisUrls: "redis" in stores ? [stores.redis.url] : stores.redisCluster.seedUrls,
      redisStreams: deadLetterKeys.streams().map((stream) => deadLetterKeys.deadLetterStreamOf(stream)),
      nodes: apps.nodes.map((node, i) => ({ name: `n${i + 1}`, port: node.port })),
      flushers: [{ name: "flusher-1", port: apps.flusher.port }],
      gatewayMetricsPort,
      cassandraMetricsPort,
      probe: { gatewayUrl: apps.gateway.url, jwtSecret: secret ?? DEV_JWT_SECRET },
    });
    log(`Prometheus ${monitoring.prometheusUrl} (alerts: ${monitoring.prometheusUrl}/alerts), Alertmanager ${monitoring.alertmanagerUrl}`);
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await stopAll(1);
}

const token = await mintToken({ secret: secret ?? DEV_JWT_SECRET, userId: "dev", rooms: ["*"] });
console.log(`
Chat cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${apps!.gateway.url}
  readiness   ${apps!.gateway.url}/readyz
  JWT secret  ${secret ? "from CHAT_JWT_SECRET" : `${DEV_JWT_SECRET} (dev default; set CHAT_JWT_SECRET)`}
  dev token   ${token}
              (user "dev", all rooms; more with: npm run token -- <user> [room-pattern ...])
  logs        ${dataDir}${monitoring ? `\n  prometheus  ${monitoring.prometheusUrl}  (alerts ${monitoring.prometheusUrl}/alerts, Alertmanager ${monitoring.alertmanagerUrl})` : ""}
Ctrl-C stops everything.`);

// A component that dies on its own is restarted, as Kubernetes would (scripts/infra/supervisor.ts);
// one that keeps dying stops the cluster, loudly: a half cluster that looks up is worse than none.
supervisor = superviseCluster(apps!, stores!, {
  log: (line) => console.error(`[cluster +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`),
  onCrashLoop: (reason) => {
    console.error(`\n!!! ${reason}\n`);
    void stopAll(1);
  },
});
// The monitoring stack is not part of the chat: a Prometheus or exporter that dies is reported,
// not restarted, and the chat keeps running.
for (const managed of monitoring?.processes ?? []) {
  void managed.exited.then((code) => {
    if (!stopping) console.error(`${managed.name} (monitoring) exited unexpectedly (${code}); see ${managed.logFile}`);
  });
}
