/**
 * The flusher process: `node dist/storage/flusher/main.js`.
 * Drains the Redis write-buffer streams into Cassandra until SIGTERM/SIGINT.
 *
 * Its own settings (besides storage/config.ts): CHAT_FLUSHER_BATCH_SIZE,
 * CHAT_FLUSHER_BATCHES_IN_FLIGHT, CHAT_FLUSHER_LINGER_MS, CHAT_FLUSHER_CLAIM_IDLE_MS,
 * CHAT_FLUSHER_MAX_ENTRY_FAILURES, CHAT_FLUSH_STRATEGY (concurrent | partition-batches),
 * CHAT_FLUSH_CONCURRENCY, and the fault-injection hook
 * CHAT_FLUSHER_CRASH_AT (before-write | before-ack; off by default, for test/faults/ only).
 */
import { hostname } from "node:os";
import { Redis } from "ioredis";
import { Counter, Histogram } from "prom-client";
import { EnvReader } from "../../common/env.js";
import { createLogger } from "../../common/logger.js";
import { createRegistry } from "../../common/metrics.js";
import { createCassandraClient } from "../cassandra/client.js";
import { DEFAULT_WRITE_OPTIONS, Timeline, WRITE_STRATEGIES } from "../cassandra/timeline.js";
import { readStorageConfig } from "../config.js";
import { RedisKeys } from "../keys.js";
import { registerStreamBacklogGauge } from "../stream/backlog.js";
import { CRASH_POINTS, DEFAULT_FLUSHER_OPTIONS, Flusher, type FlusherOptions } from "./flusher.js";
import { startFlusherHttp } from "./http.js";

const env = new EnvReader();
const config = readStorageConfig(env);
const httpPort = env.integer("CHAT_FLUSHER_HTTP_PORT", 9100, { min: 0, max: 65535 });
const consumer = env.string("CHAT_FLUSHER_NAME", `${hostname()}-${process.pid}`);
const logger = createLogger("flusher").child({ consumer });
const options: FlusherOptions = {
  ...DEFAULT_FLUSHER_OPTIONS,
  consumer,
  recentKeepPerRoom: config.stream.recentKeepPerRoom,
  batchSize: env.integer("CHAT_FLUSHER_BATCH_SIZE", DEFAULT_FLUSHER_OPTIONS.batchSize, { min: 1, max: 10_000 }),
  maxBatchesInFlight: env.integer("CHAT_FLUSHER_BATCHES_IN_FLIGHT", DEFAULT_FLUSHER_OPTIONS.maxBatchesInFlight, { min: 1, max: 16 }),
  lingerInMs: env.integer("CHAT_FLUSHER_LINGER_MS", DEFAULT_FLUSHER_OPTIONS.lingerInMs, { min: 0, max: 10_000 }),
  claimIdleInMs: env.integer("CHAT_FLUSHER_CLAIM_IDLE_MS", DEFAULT_FLUSHER_OPTIONS.claimIdleInMs, { min: 100 }),
  maxEntryFailures: env.integer("CHAT_FLUSHER_MAX_ENTRY_FAILURES", DEFAULT_FLUSHER_OPTIONS.maxEntryFailures, { min: 1 }),
  crashAt: process.env.CHAT_FLUSHER_CRASH_AT ? env.oneOf("CHAT_FLUSHER_CRASH_AT", CRASH_POINTS, "before-write") : undefined,
};
const writeOptions = {
  strategy: env.oneOf("CHAT_FLUSH_STRATEGY", WRITE_STRATEGIES, DEFAULT_WRITE_OPTIONS.strategy),
  concurrency: env.integer("CHAT_FLUSH_CONCURRENCY", DEFAULT_WRITE_OPTIONS.concurrency, { min: 1, max: 1024 }),
};

const keys = new RedisKeys(config.redis.keyPrefix, config.stream.shards);
const redis = new Redis(config.redis.url, { lazyConnect: true });
const cassandra = createCassandraClient(config.cassandra);
redis.on("error", (error) => logger.warn({ err: error }, "redis connection error"));

const registry = createRegistry("flusher", consumer);
const flushed = new Counter({ name: "chat_flushed_messages_total", help: "Messages written to Cassandra by the flusher", registers: [registry] });
const flushFailures = new Counter({ name: "chat_flush_failures_total", help: "Failed flush batches (retried)", registers: [registry] });
const deadLettered = new Counter({ name: "chat_dead_lettered_total", help: "Entries moved to the dead-letter stream", registers: [registry] });
const flushSeconds = new Histogram({ name: "chat_flush_batch_seconds", help: "Time to write and acknowledge one batch", buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
registerStreamBacklogGauge(registry, redis, keys);

const flusher = new Flusher(redis, keys, new Timeline(cassandra, config.stream.bucketWidthInMs, writeOptions), options, logger, {
  flushed(count, seconds) {
    flushed.inc(count);
    flushSeconds.observe(seconds);
  },
  failed: () => flushFailures.inc(),
  deadLettered: (count) => deadLettered.inc(count),
});

const stop = new AbortController();
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => stop.abort());

await redis.connect();
const http = await startFlusherHttp(httpPort, registry, () => redis.status === "ready");
logger.info({ httpPort, shards: config.stream.shards, keyspace: config.cassandra.keyspace, batchSize: options.batchSize, maxBatchesInFlight: options.maxBatchesInFlight, lingerInMs: options.lingerInMs, ...writeOptions, crashAt: options.crashAt }, "flusher started");
process.send?.({ type: "listening", port: (http.address() as { port: number }).port });
await flusher.run(stop.signal);
logger.info("flusher stopping");
http.close();
await Promise.allSettled([cassandra.shutdown(), redis.quit()]);
