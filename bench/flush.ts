/**
 * Flush throughput on a real Cassandra node (and Redis), two measurements:
 *   npx tsc -p tsconfig.json && node dist/bench/flush.js [rows]
 * 1. Each Cassandra write strategy of the Timeline alone (measureFlush): rows/s per strategy,
 *    median of 3 rounds; the faster one is DEFAULT_WRITE_OPTIONS. Every round's rows are read
 *    back (untimed), or there is no figure.
 * 2. The flusher process end to end: `rows` messages preloaded into the shard streams, one
 *    flusher (dist/storage/flusher/main.js, default settings) started, timed until the streams
 *    are empty (read, write, XACK + XDEL). The figure stands only if every message is then read
 *    back from Cassandra by (room, seq) with its id and the dead-letter stream is empty: an
 *    empty stream alone would count a dropped or dead-lettered entry as flushed.
 * Uses CHAT_TEST_CASSANDRA / CHAT_TEST_REDIS_URL when set, else starts its own in a temp dir.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { startFlusher } from "../scripts/infra/apps.js";
import { startCassandra, type CassandraNode } from "../scripts/infra/cassandra.js";
import { freePort } from "../scripts/infra/process.js";
import { startRedis, type RedisServer } from "../scripts/infra/redis.js";
import { cassandraConfigFor, migrateKeyspace } from "../scripts/infra/stack.js";
import { createCassandraClient } from "../storage/cassandra/client.js";
import { DEFAULT_WRITE_OPTIONS } from "../storage/cassandra/timeline.js";
import { measureFlush } from "./flush-strategies.js";
import { DEFAULT_STREAM_CONFIG } from "../storage/config.js";
import { RedisKeys } from "../storage/keys.js";
import type { ChatMessage } from "../storage/message.js";
import { FigureRefused } from "./lib/integrity.js";
import { deadLetterCount, readBack, requireAllRowsStored, type ExpectedRow } from "./lib/read-back.js";

const SHARDS = 4;
const rows = Number(process.argv[2] ?? 50_000);
if (!Number.isInteger(rows) || rows < 1) {
  console.error("usage: node dist/bench/flush.js [rows, a positive integer]");
  process.exit(2);
}
const dir = await mkdtemp(join(tmpdir(), "bench-flush-"));
let node: CassandraNode | undefined;
let redisServer: RedisServer | undefined;
try {
  let contactPoint = process.env.CHAT_TEST_CASSANDRA;
  let redisUrl = process.env.CHAT_TEST_REDIS_URL;
  if (!contactPoint) {
    node = await startCassandra({
      dataDir: join(dir, "cassandra"),
      logFile: join(dir, "cassandra", "stdout.log"),
      nativePort: await freePort(),
      storagePort: await freePort(),
    });
    contactPoint = `${node.host}:${node.port}`;
  }
  if (!redisUrl) {
    redisServer = await startRedis({ dataDir: join(dir, "redis"), port: await freePort() });
    redisUrl = redisServer.url;
  }
  const keyspace = `bench_flush_${Date.now().toString(36)}`;
  const config = cassandraConfigFor(contactPoint, keyspace);
  await migrateKeyspace(config);

  console.log(
    `1. Timeline write strategies: Cassandra ${contactPoint}, ${rows} messages per round, batches of 500, concurrency ${DEFAULT_WRITE_OPTIONS.concurrency}`,
  );
  const readBackClient = createCassandraClient(config);
  await readBackClient.connect();
  const verify = async (written: readonly ChatMessage[], strategy: string) =>
    requireAllRowsStored(
      `Timeline write strategy ${strategy}`,
      await readBack(readBackClient, written, DEFAULT_STREAM_CONFIG.bucketWidthInMs),
      0,
    );
  const { results, fastest } = await measureFlush({ cassandra: config, rows, log: (line) => console.log(`  ${line}`), verify }).finally(
    () => readBackClient.shutdown(),
  );
  for (const result of results)
    console.log(
      `${result.strategy}: ${result.rowsPerSecond.toFixed(0)} rows/s (median of ${result.rounds.map((r) => r.toFixed(0)).join(", ")})`,
    );
  console.log(`fastest: ${fastest}; default: ${DEFAULT_WRITE_OPTIONS.strategy}`);

  console.log(
    `2. Flusher end to end: ${rows} entries preloaded into ${SHARDS} shard streams, one flusher (${DEFAULT_WRITE_OPTIONS.strategy})`,
  );
  const prefix = `bench${Date.now().toString(36)}:`;
  const keys = new RedisKeys(prefix, SHARDS);
  const redis = new Redis(redisUrl);
  try {
    const now = Date.now();
    const preloaded: ExpectedRow[] = [];
    for (let start = 0; start < rows; start += 1000) {
      const pipeline = redis.pipeline();
      for (let i = start; i < Math.min(rows, start + 1000); i++) {
        const room = `bench-room-${i % 100}`;
        const seq = Math.floor(i / 100) + 1;
        const message = {
          room,
          from: `user-${i % 500}`,
          clientId: `c-${i}`,
          text: "x".repeat(100),
          id: `${now.toString(36)}-${i}`,
          seq,
          ts: now + i,
        };
        preloaded.push(message);
        const json = JSON.stringify(message);
        pipeline.xadd(keys.streamOf(room), "*", "m", json);
      }
      await pipeline.exec();
    }
    const started = performance.now();
    const flusher = await startFlusher({
      name: "bench-flusher",
      logFile: join(dir, "flusher.log"),
      env: {
        CHAT_REDIS_URL: redisUrl,
        CHAT_REDIS_PREFIX: prefix,
        CHAT_STREAM_SHARDS: String(SHARDS),
        CHAT_CASSANDRA_CONTACT_POINTS: contactPoint,
        CHAT_CASSANDRA_KEYSPACE: keyspace,
        CHAT_FLUSHER_HTTP_PORT: "0",
        LOG_LEVEL: "warn",
      },
    });
    try {
      for (;;) {
        let left = 0;
        for (const stream of keys.streams()) left += await redis.xlen(stream);
        if (left === 0) break;
        await sleep(50);
      }
      const seconds = (performance.now() - started) / 1000;
      const client = createCassandraClient(config);
      try {
        await client.connect();
        requireAllRowsStored(
          "flusher end to end",
          await readBack(client, preloaded, DEFAULT_STREAM_CONFIG.bucketWidthInMs),
          await deadLetterCount(redis, keys),
        );
      } finally {
        await client.shutdown();
      }
      console.log(
        `flusher: ${rows} messages in ${seconds.toFixed(1)} s = ${(rows / seconds).toFixed(0)} rows/s (including the flusher's ~1 s start)`,
      );
    } finally {
      await flusher.stop();
      await redis.del(...keys.streams(), ...keys.streams().map((stream) => keys.deadLetterStreamOf(stream)));
    }
  } finally {
    redis.disconnect();
  }
} catch (error) {
  if (!(error instanceof FigureRefused)) throw error;
  console.error(`no figure: ${error.message}`);
  process.exitCode = 1;
} finally {
  await Promise.allSettled([node?.stop(), redisServer?.stop()]);
  await rm(dir, { recursive: true, force: true });
}
