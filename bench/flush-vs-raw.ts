/**
 * Item 5: rows per second into Cassandra through the flusher vs the raw ceiling.
 *
 * Raw ceiling: the same kind of rows written straight by cassandra-driver, no Redis, the whole
 * set handed to the driver at once with bounded concurrency (so it never waits for a batch
 * boundary), in each of Timeline's write strategies (one INSERT per row, or one UNLOGGED batch
 * per partition); the ceiling is the faster of the two.
 * (bench/flush.ts, by the storage engineer, compares Timeline's write strategies in-process;
 * this measures the flusher process as deployed.)
 * Flusher: a flusher process is started on a prefix of its own and warmed up like the raw
 * side (it drains a warm-up set untimed); then it is paused (SIGSTOP), `rows` messages are
 * appended to the Redis write buffer (with the node's own MessageBuffer), and it is timed from
 * its resumption until the streams are empty (entries are deleted only after Cassandra
 * confirmed them). Neither figure stands unless every row is read back from Cassandra by
 * (room, seq) with its id, and, for the flusher, the dead-letter stream took nothing: an empty
 * backlog alone would count a dropped or dead-lettered entry as flushed (lib/read-back.ts).
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { startFlusher } from "../scripts/infra/apps.js";
import { createCassandraClient } from "../storage/cassandra/client.js";
import { DEFAULT_WRITE_OPTIONS, Timeline, WRITE_STRATEGIES } from "../storage/cassandra/timeline.js";
import { DEFAULT_STREAM_CONFIG, type CassandraConfig } from "../storage/config.js";
import { RedisKeys } from "../storage/keys.js";
import type { ChatMessage } from "../storage/message.js";
import { MessageBuffer } from "../storage/stream/producer.js";
import { deadLetterCount, readBack, requireAllRowsStored, type ExpectedRow } from "./lib/read-back.js";
import { procCpuInMicros } from "./lib/servers.js";

export interface FlushSettings {
  rows: number;
  rooms: number;
  textBytes: number;
}

export interface FlushResult {
  rows: number;
  /** The faster raw strategy's rows/s. */
  rawRowsPerSecond: number;
  rawByStrategy: Record<string, number>;
  flusherRowsPerSecond: number;
  /** Flusher CPU while draining, 1 = one core. */
  flusherCpuUtilisation: number;
  /** Seconds to fill the buffer (not part of the flusher's time). */
  fillSeconds: number;
  /**
   * From the flusher's own /metrics (chat_flush_batch_seconds): batches written, their mean size
   * and time, and the share of the drain spent writing + acknowledging (the rest is reading
   * from Redis, decoding, and nothing in flight).
   */
  flusherBatches: { count: number; meanRows: number; meanWriteAndAckInMs: number; shareOfDrain: number } | null;
  /** Rows read back by (room, seq, id) for the raw run with the fewer, and for the flusher: both `rows`, or no figure. */
  rawRowsCounted: number;
  flusherRowsCounted: number;
}

/** Statements (or batches) in flight for the raw writes: the flusher's own bound. */
const RAW_CONCURRENCY = DEFAULT_WRITE_OPTIONS.concurrency;

export async function measureFlushVsRaw(options: {
  cassandra: CassandraConfig;
  redisUrl: string;
  prefix: string;
  env: NodeJS.ProcessEnv;
  logDir: string;
  settings: FlushSettings;
  log: (line: string) => void;
}): Promise<FlushResult> {
  const { cassandra: config, redisUrl, prefix, env, logDir, settings, log } = options;
  const bucketWidthInMs = DEFAULT_STREAM_CONFIG.bucketWidthInMs;
  const client = createCassandraClient(config);
  const redis = new Redis(redisUrl);
  try {
    await client.connect();
    const timeline = new Timeline(client, bucketWidthInMs);
    // Warm-up: prepared statements and Cassandra's JIT, so neither side pays them alone.
    for (const strategy of WRITE_STRATEGIES)
      await timeline.write(messages(`warm-${strategy}`, Math.min(5000, settings.rows), settings), {
        strategy,
        concurrency: RAW_CONCURRENCY,
      });

    const rawByStrategy: Record<string, number> = {};
    let rawRowsCounted = Number.POSITIVE_INFINITY;
    for (const strategy of WRITE_STRATEGIES) {
      const kind = `raw-${strategy}`;
      const rows = messages(kind, settings.rows, settings);
      const started = performance.now();
      await timeline.write(rows, { strategy, concurrency: RAW_CONCURRENCY });
      rawByStrategy[strategy] = (settings.rows * 1000) / (performance.now() - started);
      const stored = await readBack(client, rows, bucketWidthInMs);
      requireAllRowsStored(`flush, raw cassandra-driver (${strategy})`, stored, 0);
      rawRowsCounted = Math.min(rawRowsCounted, stored.found);
      log(`  raw cassandra-driver, ${strategy}, ${RAW_CONCURRENCY} in flight: ${rawByStrategy[strategy]!.toFixed(0)} rows/s`);
    }
    const rawRowsPerSecond = Math.max(...Object.values(rawByStrategy));

    const flushPrefix = `${prefix}flush-${randomBytes(3).toString("hex")}:`;
    const keys = new RedisKeys(flushPrefix, DEFAULT_STREAM_CONFIG.shards);
    const buffer = new MessageBuffer(redis, keys, DEFAULT_STREAM_CONFIG, timeline);
    const flusher = await startFlusher({
      name: "flusher-bench",
      env: { ...env, CHAT_REDIS_PREFIX: flushPrefix, CHAT_FLUSHER_HTTP_PORT: "0" },
      logFile: join(logDir, "flusher-bench.log"),
    });
    try {
      const pid = flusher.process.child.pid ?? -1;
      // Warm-up, as on the raw side: the flusher process connects to Cassandra, prepares its
      // statements and gets its write path JIT-compiled on messages of its own, untimed (a
      // deployed flusher is a long-running process; a cold one is not what is compared).
      await append(buffer, messages("warm-flush", Math.min(5000, settings.rows), settings));
      while ((await backlog(redis, keys)) > 0) await sleep(10);
      // The measured set is appended while the flusher is paused (SIGSTOP), so that it finds the
      // whole set waiting, as the raw side is handed the whole set at once.
      process.kill(pid, "SIGSTOP");
      let fillSeconds: number;
      let appended: ExpectedRow[];
      try {
        const fillStarted = performance.now();
        appended = await append(buffer, messages("flush", settings.rows, settings));
        fillSeconds = (performance.now() - fillStarted) / 1000;
      } finally {
        process.kill(pid, "SIGCONT");
      }
      const cpuBefore = procCpuInMicros(pid);
      const batchesBefore = await batchMetrics(flusher.port);
      const started = performance.now();
      while ((await backlog(redis, keys)) > 0) await sleep(10);
      const elapsedInMs = performance.now() - started;
      const flusherCpuUtilisation = (procCpuInMicros(pid) - cpuBefore) / 1000 / elapsedInMs;
      const flusherRowsPerSecond = (settings.rows * 1000) / elapsedInMs;
      const stored = await readBack(client, appended, bucketWidthInMs);
      requireAllRowsStored("flush, flusher process", stored, await deadLetterCount(redis, keys));
      const flusherRowsCounted = stored.found;
      const flusherBatches = batchesDuring(batchesBefore, await batchMetrics(flusher.port), settings.rows, elapsedInMs);
      if (flusherBatches)
        log(
          `  flusher batches: ${flusherBatches.count}, ${flusherBatches.meanRows.toFixed(0)} rows and ${flusherBatches.meanWriteAndAckInMs.toFixed(1)} ms (write + ack) each; writing ${(flusherBatches.shareOfDrain * 100).toFixed(0)} % of the drain time (over 100 %: batches overlap)`,
        );
      log(
        `  flusher: ${flusherRowsPerSecond.toFixed(0)} rows/s (${flusherRowsCounted} rows read back; flusher CPU ${(flusherCpuUtilisation * 100).toFixed(0)} %)`,
      );
      return {
        rows: settings.rows,
        rawRowsPerSecond,
        rawByStrategy,
        flusherRowsPerSecond,
        flusherCpuUtilisation,
        fillSeconds,
        rawRowsCounted,
        flusherRowsCounted,
        flusherBatches,
      };
    } finally {
      await flusher.stop(5000);
    }
  } finally {
    redis.disconnect();
    await client.shutdown();
  }
}

function roomOf(kind: string, index: number): string {
  return `fl-${kind}-${index}`;
}

/** `count` messages spread round-robin over the rooms, seq 1, 2, … per room. */
function messages(kind: string, count: number, settings: FlushSettings): ChatMessage[] {
  const now = Date.now();
  const text = "x".repeat(settings.textBytes);
  return Array.from({ length: count }, (_, i) => ({
    id: `${now.toString(36)}${randomBytes(10).toString("hex")}`,
    room: roomOf(kind, i % settings.rooms),
    seq: Math.floor(i / settings.rooms) + 1,
    from: `user-${i % 97}`,
    clientId: `${kind}-${i}`,
    text,
    ts: now,
  }));
}

async function backlog(redis: Redis, keys: RedisKeys): Promise<number> {
  const lengths = await Promise.all(keys.streams().map((stream) => redis.xlen(stream)));
  return lengths.reduce((sum, length) => sum + length, 0);
}

/**
 * Appends the messages through the node's own MessageBuffer, 256 at a time; returns what was
 * stored (the buffer assigns seq, id and ts), for the read-back.
 */
async function append(buffer: MessageBuffer, toAppend: ChatMessage[]): Promise<ExpectedRow[]> {
  const stored: ExpectedRow[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < toAppend.length) {
        const m = toAppend[next++]!;
        const outcome = await buffer.append({ room: m.room, from: m.from, clientId: m.clientId, text: m.text });
        if (outcome.kind !== "stored") throw new Error(`buffer append answered ${outcome.kind}`);
        stored.push(outcome.message);
      }
    }),
  );
  return stored;
}

interface BatchCounters {
  sum: number;
  count: number;
}

/** Reads chat_flush_batch_seconds from the flusher's /metrics; null when it is not there. */
async function batchMetrics(port: number): Promise<BatchCounters | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    const counters = { sum: read("chat_flush_batch_seconds_sum"), count: read("chat_flush_batch_seconds_count") };
    return Number.isFinite(counters.sum) && Number.isFinite(counters.count) ? counters : null;
  } catch {
    return null;
  }
}

/** The batches of the measured drain: the counters' growth over it (the warm-up's are left out). */
function batchesDuring(
  before: BatchCounters | null,
  after: BatchCounters | null,
  rows: number,
  drainInMs: number,
): FlushResult["flusherBatches"] {
  if (!before || !after) return null;
  const count = after.count - before.count;
  const sum = after.sum - before.sum;
  if (!(count > 0)) return null;
  return { count, meanRows: rows / count, meanWriteAndAckInMs: (sum / count) * 1000, shareOfDrain: (sum * 1000) / drainInMs };
}
