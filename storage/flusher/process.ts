/**
 * The flusher process, composed: settings from the environment (besides storage/config.ts:
 * CHAT_FLUSHER_HTTP_PORT, CHAT_FLUSHER_NAME, CHAT_FLUSHER_BATCH_SIZE,
 * CHAT_FLUSHER_BATCHES_IN_FLIGHT, CHAT_FLUSHER_LINGER_MS, CHAT_FLUSHER_CLAIM_IDLE_MS,
 * CHAT_FLUSHER_MAX_ENTRY_FAILURES, CHAT_FLUSH_STRATEGY (concurrent | partition-batches),
 * CHAT_FLUSH_CONCURRENCY), Redis, Cassandra, metrics and the health endpoints, then the
 * flusher's loop until SIGTERM/SIGINT. main.ts runs it as it is.
 */
import { hostname } from "node:os";
import { Counter, Histogram } from "prom-client";
import { EnvReader } from "../../common/env.js";
import { createLogger } from "../../common/logger.js";
import { createRegistry } from "../../common/metrics.js";
import { createCassandraClient } from "../cassandra/client.js";
import { DEFAULT_WRITE_OPTIONS, Timeline, WRITE_STRATEGIES } from "../cassandra/timeline.js";
import { readStorageConfig } from "../config.js";
import { RedisKeys } from "../keys.js";
import { createRedisClient, duplicateClient } from "../redis-client.js";
import { MessageBuffer } from "../stream/producer.js";
import { registerStreamBacklogGauge } from "../stream/backlog.js";
import { Flusher } from "./flusher.js";
import { startFlusherHttp } from "./http.js";
import { DEFAULT_FLUSHER_OPTIONS, type FlusherOptions, type RowWriter } from "./options.js";

export interface FlusherProcessOptions {
  /**
   * Wraps the Timeline the flusher writes its rows to, e.g. to observe or delay the writes of
   * a process started by a test. Without it the rows go to the Timeline as they are.
   */
  wrapRows?: (timeline: RowWriter) => RowWriter;
}

/** Runs the flusher process until SIGTERM or SIGINT, then closes its connections. */
export async function runFlusherProcess({ wrapRows = (timeline) => timeline }: FlusherProcessOptions = {}): Promise<void> {
  const env = new EnvReader();
  const config = readStorageConfig(env);
  const httpPort = env.integer("CHAT_FLUSHER_HTTP_PORT", 9100, { min: 0, max: 65535 });
  const consumer = env.string("CHAT_FLUSHER_NAME", `${hostname()}-${process.pid}`);
  const logger = createLogger("flusher").child({ consumer });
  const options: FlusherOptions = {
    ...DEFAULT_FLUSHER_OPTIONS,
    consumer,
    recentKeepPerRoom: config.stream.recentKeepPerRoom,
    receiptWindowInMs: config.stream.receiptWindowInMs,
    batchSize: env.integer("CHAT_FLUSHER_BATCH_SIZE", DEFAULT_FLUSHER_OPTIONS.batchSize, { min: 1, max: 10_000 }),
    maxBatchesInFlight: env.integer("CHAT_FLUSHER_BATCHES_IN_FLIGHT", DEFAULT_FLUSHER_OPTIONS.maxBatchesInFlight, { min: 1, max: 16 }),
    lingerInMs: env.integer("CHAT_FLUSHER_LINGER_MS", DEFAULT_FLUSHER_OPTIONS.lingerInMs, { min: 0, max: 10_000 }),
    claimIdleInMs: env.integer("CHAT_FLUSHER_CLAIM_IDLE_MS", DEFAULT_FLUSHER_OPTIONS.claimIdleInMs, { min: 100 }),
    maxEntryFailures: env.integer("CHAT_FLUSHER_MAX_ENTRY_FAILURES", DEFAULT_FLUSHER_OPTIONS.maxEntryFailures, { min: 1 }),
  };
  const writeOptions = {
    strategy: env.oneOf("CHAT_FLUSH_STRATEGY", WRITE_STRATEGIES, DEFAULT_WRITE_OPTIONS.strategy),
    concurrency: env.integer("CHAT_FLUSH_CONCURRENCY", DEFAULT_WRITE_OPTIONS.concurrency, { min: 1, max: 1024 }),
  };

  const keys = new RedisKeys(config.redis.keyPrefix, config.stream.shards);
  // Single Redis or Redis Cluster (CHAT_REDIS_CLUSTER_NODES); the error listener comes with it.
  const redis = createRedisClient(config.redis, {
    name: "redis",
    onError: (error, client) => logger.warn({ err: error, connection: client }, "redis connection error"),
    lazyConnect: true,
  });
  const cassandra = createCassandraClient(config.cassandra);

  const registry = createRegistry("flusher", consumer);
  const flushed = new Counter({
    name: "chat_flushed_messages_total",
    help: "Messages written to Cassandra by the flusher",
    registers: [registry],
  });
  const flushFailures = new Counter({ name: "chat_flush_failures_total", help: "Failed flush batches (retried)", registers: [registry] });
  const deadLettered = new Counter({
    name: "chat_dead_lettered_total",
    help: "Entries moved to the dead-letter stream",
    registers: [registry],
  });
  const flushSeconds = new Histogram({
    name: "chat_flush_batch_seconds",
    help: "Time to write and acknowledge one batch",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  registerStreamBacklogGauge(registry, redis, keys);

  const timeline = new Timeline(cassandra, config.stream.bucketWidthInMs, writeOptions, config.stream.idempotencyTtlInMs);
  const rows = wrapRows(timeline);
  // Its own connection: the reader's may be held by a blocking XREADGROUP.
  const renumbering = duplicateClient(redis, {
    name: "redis-resequence",
    onError: (error, client) => logger.warn({ err: error, connection: client }, "redis connection error"),
  });
  const resequencer = new MessageBuffer(renumbering, keys, config.stream, timeline);
  const flusher = new Flusher(
    redis,
    keys,
    rows,
    options,
    logger,
    {
      flushed(count, seconds) {
        flushed.inc(count);
        flushSeconds.observe(seconds);
      },
      failed: () => flushFailures.inc(),
      deadLettered: (count) => deadLettered.inc(count),
    },
    resequencer,
  );

  const stop = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => stop.abort());

  await redis.connect();
  const http = await startFlusherHttp(httpPort, registry, () => redis.status === "ready");
  logger.info(
    {
      httpPort,
      shards: config.stream.shards,
      keyspace: config.cassandra.keyspace,
      batchSize: options.batchSize,
      maxBatchesInFlight: options.maxBatchesInFlight,
      lingerInMs: options.lingerInMs,
      ...writeOptions,
    },
    "flusher started",
  );
  process.send?.({ type: "listening", port: (http.address() as { port: number }).port });
  await flusher.run(stop.signal);
  logger.info("flusher stopping");
  http.close();
  await Promise.allSettled([cassandra.shutdown(), redis.quit(), renumbering.quit()]);
}
