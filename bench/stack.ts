/**
 * What the parts of a bench run share: Redis + Cassandra on free ports with a keyspace and key
 * prefix of the run's own (and, when their parts are wanted, the Centrifugo peers and the Redis
 * Cluster, started while Cassandra boots), the read-back clients, the nodes' environment and
 * tokens, the two load generators, the flusher and our first node. Everything is registered
 * for cleanup as soon as it exists.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Redis } from "ioredis";
import { startFlusher, type AppProcess } from "../scripts/infra/apps.js";
import { freePort } from "../scripts/infra/process.js";
import { cassandraConfigFor, migrateKeyspace, startStores, type Stores } from "../scripts/infra/stack.js";
import { mintToken } from "../scripts/lib/tokens.js";
import { createCassandraClient, type CassandraClient } from "../storage/cassandra/client.js";
import { DEFAULT_STREAM_CONFIG, type CassandraConfig } from "../storage/config.js";
import { RedisKeys } from "../storage/keys.js";
import type { Part } from "./cli.js";
import { storedOnceCheck } from "./lib/receipts.js";
import { startOurNode, type MeasuredServer } from "./lib/servers.js";
import { Generator } from "./load/pool.js";
import type { Log, OnCleanup } from "./lifecycle.js";
import type { Profiled } from "./profiling.js";
import { startCentrifugoPeers, type CentrifugoPeers } from "./scenarios/centrifugo.js";
import { startBenchCluster } from "./scenarios/redis-modes.js";
import type { BenchSettings } from "./settings.js";

const JWT_SECRET = `bench-${randomBytes(16).toString("hex")}`;
/** The user of generator g's token: its senders' messages are theirs, so they may edit them. */
export const userOf = (g: number) => `bench-${g}`;
const ROOM_PATTERNS = ["fan-*", "cl-*", "ing-*", "e2e-*", "rm-*", "chg-*"];

/** What a part needs of the run around it. */
export interface BenchRun {
  settings: BenchSettings;
  wanted: (part: Part) => boolean;
  /** The run's directory: logs and store data. */
  dir: string;
  log: Log;
  onCleanup: OnCleanup;
  profiled: Profiled;
  /** Where the profiles go, when profiling. */
  profileDir: string | undefined;
}

export interface BenchStack {
  stores: Stores;
  cassandra: CassandraConfig;
  prefix: string;
  keys: RedisKeys;
  redisPid: number;
  /** Read-backs of acknowledged sends (lib/receipts.ts) and dead letters of the run's keys. */
  readBackClient: CassandraClient;
  redisClient: Redis;
  storedOnce: ReturnType<typeof storedOnceCheck>;
  /** Our nodes' and the flusher's environment. */
  env: NodeJS.ProcessEnv;
  /** Generator g's token is tokens[g], of user userOf(g). */
  tokens: string[];
  generators: [Generator, Generator];
  flusher: AppProcess;
  nodeA: MeasuredServer;
  urlA: string;
  /** Only when the centrifugo part is wanted. */
  peers: CentrifugoPeers | undefined;
  /** Only when the redis-cluster part is wanted. */
  redisCluster: Awaited<ReturnType<typeof startBenchCluster>> | undefined;
}

export function socketIoUrl(port: number): string {
  return `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;
}

/** For onCleanup: stopping a server that was already stopped is harmless. */
export const stopped = (server: MeasuredServer) => server.stop();

export async function startBenchStack({ settings, wanted, dir, log, onCleanup }: BenchRun): Promise<BenchStack> {
  // Centrifugo (item 7) starts while Cassandra boots: it needs none of the stores. Both are
  // awaited to the end (allSettled) so that whatever did start is registered for cleanup.
  // The Redis Cluster of item 8 likewise.
  const [storesStarted, peersStarted, clusterStarted] = await Promise.allSettled([
    startStores({
      dir,
      redisPort: await freePort(),
      cassandraNativePort: await freePort(),
      cassandraStoragePort: await freePort(),
      log,
    }).then((started) => onCleanup(started, (s) => s.stop())),
    wanted("centrifugo") ? startCentrifugoPeers(dir, 2, log, (stop) => onCleanup(undefined, stop)) : Promise.resolve(undefined),
    wanted("redis-cluster") ? startBenchCluster(dir).then((started) => onCleanup(started, (c) => c.stop())) : Promise.resolve(undefined),
  ]);
  if (storesStarted.status === "rejected") throw storesStarted.reason;
  if (peersStarted.status === "rejected") throw peersStarted.reason;
  if (clusterStarted.status === "rejected") throw clusterStarted.reason;
  const redisCluster = clusterStarted.value;
  if (redisCluster) log(`Redis Cluster up: ${redisCluster.seeds.join(",")} (3 primaries + 3 replicas)`);
  const stores = storesStarted.value;
  const keyspace = `bench_${randomBytes(4).toString("hex")}`;
  const cassandra = cassandraConfigFor(stores.cassandraContactPoint, keyspace);
  await migrateKeyspace(cassandra);
  const prefix = `bench-${randomBytes(4).toString("hex")}:`;
  const readBackClient = onCleanup(createCassandraClient(cassandra), (client) => client.shutdown());
  await readBackClient.connect();
  const redisClient = onCleanup(new Redis(stores.redis.url), (client) => client.disconnect());
  const env: NodeJS.ProcessEnv = {
    CHAT_REDIS_URL: stores.redis.url,
    CHAT_REDIS_PREFIX: prefix,
    CHAT_CASSANDRA_CONTACT_POINTS: stores.cassandraContactPoint,
    CHAT_CASSANDRA_KEYSPACE: keyspace,
    CHAT_JWT_SECRET: JWT_SECRET,
    CHAT_DRAIN_DEADLINE_MS: "1000",
    // The per-user send limit protects a real cluster from one user; the bench drives many
    // sends per user on purpose, so it is lifted (its cost, one Redis script call, remains).
    CHAT_SENDS_PER_SECOND: "1000000",
    CHAT_SEND_BURST: "1000000",
    // Likewise the per-user event budget and connection cap: a few bench users hold every socket.
    CHAT_EVENTS_PER_SECOND: "1000000",
    CHAT_EVENT_BURST: "1000000",
    CHAT_CONNECTIONS_PER_USER: "1000000",
    // And the node's admission (a connection cap and rate per node): the memory part opens
    // 20,000 connections as fast as the node takes them, and that rate is what the admission
    // default is derived from (scripts/capacity), so it must not be capped by it.
    CHAT_MAX_CONNECTIONS: "0",
    CHAT_CONNECT_RATE: "0",
    LOG_LEVEL: "warn",
  };
  const tokens = await Promise.all(
    Array.from({ length: Math.max(2, settings.memoryGenerators) }, (_, g) =>
      mintToken({ secret: JWT_SECRET, userId: userOf(g), rooms: ROOM_PATTERNS }),
    ),
  );
  log(`stores up: Redis ${stores.redis.url}, Cassandra ${stores.cassandraContactPoint}, keyspace ${keyspace}, prefix ${prefix}`);

  const generators: [Generator, Generator] = [
    onCleanup(Generator.start("gen-0"), (g) => g.stop()),
    onCleanup(Generator.start("gen-1"), (g) => g.stop()),
  ];
  const flusher = onCleanup(
    await startFlusher({ name: "flusher-1", env: { ...env, CHAT_FLUSHER_HTTP_PORT: "0" }, logFile: join(dir, "flusher-1.log") }),
    (f) => f.stop(),
  );
  const nodeA = onCleanup(await startOurNode("bench-a", env, dir), stopped);
  return {
    stores,
    cassandra,
    prefix,
    keys: new RedisKeys(prefix, DEFAULT_STREAM_CONFIG.shards),
    redisPid: stores.redis.process.child.pid!,
    readBackClient,
    redisClient,
    storedOnce: storedOnceCheck(readBackClient),
    env,
    tokens,
    generators,
    flusher,
    nodeA,
    urlA: socketIoUrl(nodeA.port),
    peers: peersStarted.value,
    redisCluster,
  };
}
