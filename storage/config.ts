/**
 * Settings of the write path and the stores, shared by socket nodes, the flusher and the
 * migration script. Defaults are for the local cluster that `npm start` runs.
 */
import { readFileSync } from "node:fs";
import { ConfigError, EnvReader } from "../common/env.js";

export const CONSISTENCY_LEVELS = ["ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "ALL"] as const;
export type ConsistencyName = (typeof CONSISTENCY_LEVELS)[number];

export interface RedisNodeAddress {
  host: string;
  port: number;
}

export interface RedisConfig {
  /** redis://host:port/db: the single Redis, used when `clusterNodes` is absent. */
  url: string;
  /**
   * Seed nodes of a Redis Cluster (CHAT_REDIS_CLUSTER_NODES=host:port,...): when set, every
   * client is an ioredis Cluster and `url` is not used.
   */
  clusterNodes: RedisNodeAddress[] | undefined;
  /** Password of the cluster's nodes (CHAT_REDIS_PASSWORD); a single Redis takes it in its URL. */
  password: string | undefined;
  /**
   * CHAT_REDIS_TLS=true: connect over TLS (a single Redis may also say so with rediss://),
   * trusting the PEM CA in CHAT_REDIS_TLS_CA_FILE (read at boot), or the system CAs without it.
   */
  tls: { ca: string | undefined } | undefined;
  /** Prefix of every key this product writes, so several clusters or test runs share one Redis. */
  keyPrefix: string;
  /**
   * CHAT_ACK_REPLICAS: a send is acknowledged only after WAIT confirmed this many replicas of
   * its shard's primary have it; 0 acknowledges once the primary has it.
   */
  ackReplicas: number;
  /** CHAT_ACK_TIMEOUT_MS: how long WAIT waits for those replicas before the send is answered UNAVAILABLE. */
  ackTimeoutInMs: number;
}

export interface CassandraConfig {
  /** host:port pairs. */
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  /** Used by migrations when they create the keyspace. */
  replicationFactor: number;
  consistency: ConsistencyName;
  username: string | undefined;
  password: string | undefined;
}

export interface StreamConfig {
  /** Number of write-buffer streams; a room always maps to the same one, so its order is kept. */
  shards: number;
  /**
   * Entries one shard may hold before sends are refused with UNAVAILABLE: the buffer cap that
   * bounds Redis memory while Cassandra is down.
   */
  maxEntriesPerShard: number;
  /** How long an idempotency record (from, room, clientId) → first ack is kept. */
  idempotencyTtlInMs: number;
  /**
   * The receipt window W (CHAT_RECEIPT_WINDOW_MS): once the flusher has written an entry and its
   * receipt to Cassandra, Redis keeps the receipt only this long (storage/cassandra/receipts.ts);
   * a duplicate older than that is answered from Cassandra. Until the entry is flushed Redis
   * keeps the receipt for idempotencyTtlInMs.
   */
  receiptWindowInMs: number;
  /**
   * S (CHAT_CLIENT_CLOCK_SKEW_MS): how far ahead of the servers' clocks a client's clock may run
   * for its UUIDv7 clientIds to spare the Cassandra lookup (server/chat/receipts.ts has the proof).
   */
  clientClockSkewInMs: number;
  /** How many of a room's newest flushed messages stay in Redis for fast history. */
  recentKeepPerRoom: number;
  /** Width of a Cassandra timeline partition (room, bucket). */
  bucketWidthInMs: number;
}

export interface StorageConfig {
  redis: RedisConfig;
  cassandra: CassandraConfig;
  stream: StreamConfig;
}

export const DEFAULT_STREAM_CONFIG: StreamConfig = {
  // 16 hash tags {s0}..{s15} land 6/4/6 on the three primaries of an evenly split 3-primary cluster.
  shards: 16,
  maxEntriesPerShard: 250_000,
  idempotencyTtlInMs: 24 * 60 * 60 * 1000,
  receiptWindowInMs: 15 * 60 * 1000,
  clientClockSkewInMs: 5 * 60 * 1000,
  recentKeepPerRoom: 200,
  bucketWidthInMs: 24 * 60 * 60 * 1000,
};

export function readStorageConfig(env = new EnvReader()): StorageConfig {
  const contactPoints = env.list("CHAT_CASSANDRA_CONTACT_POINTS", ["127.0.0.1:9042"]);
  if (contactPoints.length === 0) throw new ConfigError("CHAT_CASSANDRA_CONTACT_POINTS must name at least one host:port");
  const keyspace = env.string("CHAT_CASSANDRA_KEYSPACE", "chat");
  if (!/^[a-z][a-z0-9_]{0,47}$/.test(keyspace)) {
    throw new ConfigError(`CHAT_CASSANDRA_KEYSPACE must match [a-z][a-z0-9_]{0,47}, got "${keyspace}"`);
  }
  const maxBufferEntries = env.integer("CHAT_BUFFER_MAX_ENTRIES", DEFAULT_STREAM_CONFIG.maxEntriesPerShard * DEFAULT_STREAM_CONFIG.shards, {
    min: 1,
  });
  const shards = env.integer("CHAT_STREAM_SHARDS", DEFAULT_STREAM_CONFIG.shards, { min: 1, max: 1024 });
  return {
    redis: readRedisConfig(env),
    cassandra: {
      contactPoints,
      localDataCenter: env.string("CHAT_CASSANDRA_LOCAL_DC", "datacenter1"),
      keyspace,
      replicationFactor: env.integer("CHAT_CASSANDRA_REPLICATION_FACTOR", 1, { min: 1, max: 9 }),
      consistency: env.oneOf("CHAT_CASSANDRA_CONSISTENCY", CONSISTENCY_LEVELS, "LOCAL_ONE"),
      username: env.optionalString("CHAT_CASSANDRA_USERNAME"),
      password: env.optionalString("CHAT_CASSANDRA_PASSWORD"),
    },
    stream: {
      shards,
      maxEntriesPerShard: Math.max(1, Math.floor(maxBufferEntries / shards)),
      idempotencyTtlInMs: env.integer("CHAT_IDEMPOTENCY_TTL_MS", DEFAULT_STREAM_CONFIG.idempotencyTtlInMs, { min: 1000 }),
      receiptWindowInMs: env.integer("CHAT_RECEIPT_WINDOW_MS", DEFAULT_STREAM_CONFIG.receiptWindowInMs, { min: 100 }),
      clientClockSkewInMs: env.integer("CHAT_CLIENT_CLOCK_SKEW_MS", DEFAULT_STREAM_CONFIG.clientClockSkewInMs, { min: 0 }),
      recentKeepPerRoom: env.integer("CHAT_RECENT_KEEP_PER_ROOM", DEFAULT_STREAM_CONFIG.recentKeepPerRoom, { min: 0 }),
      bucketWidthInMs: env.integer("CHAT_BUCKET_WIDTH_MS", DEFAULT_STREAM_CONFIG.bucketWidthInMs, { min: 1000 }),
    },
  };
}

function readRedisConfig(env: EnvReader): RedisConfig {
  const keyPrefix = env.string("CHAT_REDIS_PREFIX", "chat:");
  // Braces would make part of the prefix the hash tag and scatter a room's keys over slots.
  if (/[{}]/.test(keyPrefix)) throw new ConfigError(`CHAT_REDIS_PREFIX must not contain "{" or "}", got "${keyPrefix}"`);
  const seeds = env.list("CHAT_REDIS_CLUSTER_NODES", []);
  return {
    url: env.string("CHAT_REDIS_URL", "redis://127.0.0.1:6379"),
    clusterNodes: seeds.length === 0 ? undefined : seeds.map((seed) => parseNodeAddress("CHAT_REDIS_CLUSTER_NODES", seed)),
    password: env.optionalString("CHAT_REDIS_PASSWORD"),
    tls: readTls(env),
    keyPrefix,
    ackReplicas: env.integer("CHAT_ACK_REPLICAS", 0, { min: 0, max: 16 }),
    ackTimeoutInMs: env.integer("CHAT_ACK_TIMEOUT_MS", 1000, { min: 1, max: 60_000 }),
  };
}

function readTls(env: EnvReader): RedisConfig["tls"] {
  const caFile = env.optionalString("CHAT_REDIS_TLS_CA_FILE");
  if (!env.boolean("CHAT_REDIS_TLS", false)) {
    if (caFile !== undefined) throw new ConfigError("CHAT_REDIS_TLS_CA_FILE is set but CHAT_REDIS_TLS is not true");
    return undefined;
  }
  if (caFile === undefined) return { ca: undefined };
  try {
    return { ca: readFileSync(caFile, "utf8") };
  } catch (error) {
    throw new ConfigError(`CHAT_REDIS_TLS_CA_FILE cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** "host:port" (IPv6 as "[addr]:port"), or a ConfigError naming `key`. */
export function parseNodeAddress(key: string, text: string): RedisNodeAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65_535) throw new ConfigError(`${key} must be a comma-separated list of host:port, got "${text}"`);
  return { host: (match[1] ?? match[2])!, port };
}
