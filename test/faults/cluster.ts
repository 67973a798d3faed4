/**
 * What the fault tests run on. The tests that kill a flusher, a socket node or inject a poison
 * entry use the harness's shared stores (test/fixture.ts); the ones that stop Cassandra or
 * restart Redis start stores of their own here, on free ports with data dirs under the
 * harness's log dir, so other test files never see the fault.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Redis } from "ioredis";
import { createCassandraClient, type CassandraClient } from "../../storage/cassandra/client.js";
import type { CassandraConfig } from "../../storage/config.js";
import { startFlusher, type AppProcess } from "../../scripts/infra/apps.js";
import { startCassandra, type CassandraNode, type CassandraOptions } from "../../scripts/infra/cassandra.js";
import { freePort } from "../../scripts/infra/process.js";
import { startRedis, type AppendFsync, type RedisServer } from "../../scripts/infra/redis.js";
import { cassandraConfigFor, migrateKeyspace, startApps, type Apps } from "../../scripts/infra/stack.js";
import { mintToken } from "../../scripts/lib/tokens.js";
import { TEST_JWT_SECRET, uniquePrefix } from "../fixture.js";

export const SHARDS = 4;

/** A directory of its own under the harness's log dir (kept when the run fails). */
export function faultDir(name: string): string {
  const dir = join(process.env.CHAT_TEST_LOG_DIR ?? tmpdir(), `fault-${name}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface OwnRedis {
  server: RedisServer;
  port: number;
  dataDir: string;
  appendFsync: AppendFsync;
}

export async function startOwnRedis(dir: string, appendFsync: AppendFsync): Promise<OwnRedis> {
  const port = await freePort();
  const dataDir = join(dir, "redis");
  return { server: await startRedis({ dataDir, port, appendFsync }), port, dataDir, appendFsync };
}

export interface OwnCassandra {
  node: CassandraNode;
  options: CassandraOptions;
  contactPoint: string;
}

export async function startOwnCassandra(dir: string): Promise<OwnCassandra> {
  const dataDir = join(dir, "cassandra");
  const options: CassandraOptions = {
    dataDir,
    logFile: join(dataDir, "stdout.log"),
    nativePort: await freePort(),
    storagePort: await freePort(),
  };
  const node = await startCassandra(options);
  return { node, options, contactPoint: `${node.host}:${node.port}` };
}

export interface FaultClusterOptions {
  dir: string;
  redisUrl: string;
  cassandra: CassandraConfig;
  nodeCount: number;
  env?: NodeJS.ProcessEnv;
}

export interface FaultCluster {
  apps: Apps;
  url: string;
  prefix: string;
  /** Environment of the app processes, to start another flusher like the first. */
  appEnv: NodeJS.ProcessEnv;
  redis: Redis;
  cassandra: CassandraClient;
  token(user: string, rooms: string[]): Promise<string>;
  /** Extra flushers started by the test, stopped with the cluster. */
  startFlusher(name: string, env?: NodeJS.ProcessEnv): Promise<AppProcess>;
  stop(): Promise<void>;
}

export async function startFaultCluster({ dir, redisUrl, cassandra, nodeCount, env = {} }: FaultClusterOptions): Promise<FaultCluster> {
  const prefix = uniquePrefix();
  const appEnv: NodeJS.ProcessEnv = {
    CHAT_REDIS_URL: redisUrl,
    CHAT_REDIS_PREFIX: prefix,
    CHAT_CASSANDRA_CONTACT_POINTS: cassandra.contactPoints.join(","),
    CHAT_CASSANDRA_KEYSPACE: cassandra.keyspace,
    CHAT_CASSANDRA_CONSISTENCY: cassandra.consistency,
    CHAT_CASSANDRA_REPLICATION_FACTOR: String(cassandra.replicationFactor),
    CHAT_JWT_SECRET: TEST_JWT_SECRET,
    CHAT_STREAM_SHARDS: String(SHARDS),
    CHAT_DRAIN_DEADLINE_MS: "1000",
    // The known sets are sent faster than a person types.
    CHAT_SENDS_PER_SECOND: "100000",
    CHAT_SEND_BURST: "100000",
    CHAT_EVENTS_PER_SECOND: "100000",
    CHAT_EVENT_BURST: "100000",
    LOG_LEVEL: "info",
    ...env,
  };
  const apps = await startApps({ dir, nodeCount, gatewayPort: await freePort(), env: appEnv });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.on("error", () => undefined);
  const client = createCassandraClient(cassandra);
  const extraFlushers: AppProcess[] = [];
  return {
    apps,
    url: apps.gateway.url,
    prefix,
    appEnv,
    redis,
    cassandra: client,
    token: (user, rooms) => mintToken({ secret: TEST_JWT_SECRET, userId: user, rooms }),
    async startFlusher(name, extraEnv = {}) {
      const flusher = await startFlusher({
        name,
        env: { HOST: "127.0.0.1", PORT: "0", CHAT_FLUSHER_HTTP_PORT: "0", ...appEnv, ...extraEnv },
        logFile: join(dir, `${name}.log`),
      });
      extraFlushers.push(flusher);
      return flusher;
    },
    async stop() {
      await apps.stop();
      await Promise.allSettled(extraFlushers.map((flusher) => flusher.stop()));
      redis.disconnect();
      await client.shutdown();
    },
  };
}

/** A fresh keyspace, migrated, on the given contact points. */
export async function freshKeyspace(contactPoints: string[], overrides: Partial<CassandraConfig> = {}): Promise<CassandraConfig> {
  const config: CassandraConfig = {
    ...cassandraConfigFor(contactPoints[0]!, `fault_${Date.now().toString(36)}_${process.pid}`),
    contactPoints,
    ...overrides,
  };
  await migrateKeyspace(config);
  return config;
}

/** Rooms named for the test, unique per call (the Cassandra keyspace is shared by every file of a run). */
export function roomsFor(test: string, count: number): string[] {
  const run = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  return Array.from({ length: count }, (_, i) => `fault-${test}-${run}-${i}`);
}
