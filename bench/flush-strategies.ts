/**
 * Measures how fast each write strategy of the Timeline (storage/cassandra/timeline.ts) puts
 * messages into a real Cassandra, the way the flusher does: batches of `batchSize` messages per
 * shard spread over rooms and senders, up to `maxBatchesInFlight` of them at once sharing one
 * window of `concurrency` requests. bench/flush.ts prints the result; the faster strategy is
 * DEFAULT_WRITE_OPTIONS.
 */
import { randomBytes } from "node:crypto";
import { createCassandraClient, type CassandraClient } from "../storage/cassandra/client.js";
import { DEFAULT_WRITE_OPTIONS, Timeline, WRITE_STRATEGIES, type WriteStrategy } from "../storage/cassandra/timeline.js";
import { DEFAULT_STREAM_CONFIG, type CassandraConfig } from "../storage/config.js";
import type { ChatMessage } from "../storage/message.js";
import { DEFAULT_FLUSHER_OPTIONS } from "../storage/flusher/options.js";

export interface MeasureFlushOptions {
  cassandra: CassandraConfig;
  /** Messages written per strategy and round. */
  rows: number;
  rooms?: number;
  senders?: number;
  batchSize?: number;
  concurrency?: number;
  /** Rounds per strategy, alternating strategies so neither always runs on a warmer node. */
  rounds?: number;
  log?: (line: string) => void;
  /** Called after each timed round with what it wrote (untimed): throws to refuse the figure, e.g. when a row is not read back. */
  verify?: (written: readonly ChatMessage[], strategy: WriteStrategy) => Promise<void>;
}

export interface StrategyResult {
  strategy: WriteStrategy;
  /** Messages per second in each round (each message is a messages_by_room and a messages_by_user row). */
  rounds: number[];
  /** The median round. */
  rowsPerSecond: number;
}

export async function measureFlush(options: MeasureFlushOptions): Promise<{ results: StrategyResult[]; fastest: WriteStrategy }> {
  const {
    rows,
    rooms = 50,
    senders = 200,
    batchSize = DEFAULT_FLUSHER_OPTIONS.batchSize,
    concurrency = DEFAULT_WRITE_OPTIONS.concurrency,
    rounds = 3,
    log = () => undefined,
  } = options;
  const client = createCassandraClient(options.cassandra);
  try {
    await client.connect();
    const perStrategy = new Map<WriteStrategy, number[]>(WRITE_STRATEGIES.map((strategy) => [strategy, []]));
    // Warm-up: prepares the statements and lets Cassandra's JIT compile the write path.
    for (const strategy of WRITE_STRATEGIES)
      await writeAll(client, messages(Math.min(rows, 5000), rooms, senders), batchSize, strategy, concurrency);
    for (let round = 0; round < rounds; round++) {
      for (const strategy of WRITE_STRATEGIES) {
        const batch = messages(rows, rooms, senders);
        const started = performance.now();
        await writeAll(client, batch, batchSize, strategy, concurrency);
        const rate = (rows * 1000) / (performance.now() - started);
        await options.verify?.(batch, strategy);
        perStrategy.get(strategy)!.push(rate);
        log(`round ${round + 1} ${strategy}: ${rate.toFixed(0)} rows/s`);
      }
    }
    const results = WRITE_STRATEGIES.map((strategy) => ({
      strategy,
      rounds: perStrategy.get(strategy)!,
      rowsPerSecond: median(perStrategy.get(strategy)!),
    }));
    const fastest = results.reduce((best, result) => (result.rowsPerSecond > best.rowsPerSecond ? result : best)).strategy;
    return { results, fastest };
  } finally {
    await client.shutdown();
  }
}

/** As the flusher writes: batches of a read's size, a bounded number in flight, one shared window. */
async function writeAll(
  client: CassandraClient,
  all: ChatMessage[],
  batchSize: number,
  strategy: WriteStrategy,
  concurrency: number,
): Promise<void> {
  const timeline = new Timeline(client, DEFAULT_STREAM_CONFIG.bucketWidthInMs, { strategy, concurrency });
  const readSize = batchSize * DEFAULT_STREAM_CONFIG.shards;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < all.length; i += readSize) {
    inFlight.push(timeline.write(all.slice(i, i + readSize)));
    if (inFlight.length >= DEFAULT_FLUSHER_OPTIONS.maxBatchesInFlight) await inFlight.shift();
  }
  await Promise.all(inFlight);
}

/** `count` messages of ~100 characters in `rooms` fresh rooms, seqs 1, 2, ... per room. */
function messages(count: number, rooms: number, senders: number): ChatMessage[] {
  const run = randomBytes(4).toString("hex");
  const seqs = new Array<number>(rooms).fill(0);
  const now = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const room = i % rooms;
    const seq = ++seqs[room]!;
    return {
      id: `${run}-${i}`,
      room: `bench-${run}-${room}`,
      seq,
      from: `user-${i % senders}`,
      clientId: `c-${i}`,
      text: "x".repeat(100),
      ts: now + i,
    };
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
