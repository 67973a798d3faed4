/**
 * The flusher's pipeline on real Redis and Cassandra: several batches in flight at once, each
 * acknowledged only after its own rows and those of every batch read before it are in
 * Cassandra. The Flusher runs in-process so a test can hold one batch's write back (or fail
 * it) while the next ones go through: the writes themselves are the real Timeline's.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { createLogger } from "../../common/logger.js";
import { eventually, testStores, uniquePrefix } from "../../test/fixture.js";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { createCassandraClient, type CassandraClient } from "../cassandra/client.js";
import { Timeline } from "../cassandra/timeline.js";
import { DEFAULT_STREAM_CONFIG } from "../config.js";
import { RedisKeys } from "../keys.js";
import type { ChatMessage } from "../message.js";
import { MessageBuffer } from "../stream/producer.js";
import { Flusher } from "./flusher.js";
import { DEFAULT_FLUSHER_OPTIONS, type FlusherOptions } from "./options.js";

const SHARDS = 2;
const ROOMS = 6;

interface Setup {
  redis: Redis;
  cassandra: CassandraClient;
  keys: RedisKeys;
  rooms: string[];
  timeline: Timeline;
  stop(): Promise<void>;
}

async function setUp(): Promise<Setup> {
  const stores = testStores();
  const prefix = uniquePrefix();
  const redis = new Redis(stores.redisUrl);
  const cassandra = createCassandraClient(cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace));
  await cassandra.connect();
  const keys = new RedisKeys(prefix, SHARDS);
  const rooms = Array.from({ length: ROOMS }, (_, i) => `pipe-${prefix.slice(1, -1)}-${i}`);
  return {
    redis,
    cassandra,
    keys,
    rooms,
    timeline: new Timeline(cassandra, DEFAULT_STREAM_CONFIG.bucketWidthInMs),
    stop: async () => void (redis.disconnect(), await cassandra.shutdown()),
  };
}

/** `count` messages appended through the node's own MessageBuffer, round-robin over the rooms. */
async function appendMessages(setup: Setup, count: number): Promise<void> {
  const buffer = new MessageBuffer(setup.redis, setup.keys, { ...DEFAULT_STREAM_CONFIG, shards: SHARDS }, setup.timeline);
  for (let i = 0; i < count; i++) {
    const outcome = await buffer.append({
      room: setup.rooms[i % ROOMS]!,
      from: `user-${setup.keys.prefix.slice(1, -1)}-${i % 7}`,
      clientId: `c-${i}`,
      text: `message ${i}`,
    });
    assert.equal(outcome.kind, "stored");
  }
}

function startFlusher(setup: Setup, timeline: Timeline, overrides: Partial<FlusherOptions>) {
  const events = { flushed: 0, failed: 0 };
  const options: FlusherOptions = {
    ...DEFAULT_FLUSHER_OPTIONS,
    consumer: "pipeline-test",
    lingerInMs: 0,
    blockInMs: 100,
    retryMinInMs: 50,
    retryMaxInMs: 200,
    ...overrides,
  };
  // A connection of its own, as in main.ts: XREADGROUP BLOCK holds it.
  const connection = setup.redis.duplicate();
  const flusher = new Flusher(connection, setup.keys, timeline, options, createLogger("flusher-test", "silent"), {
    flushed: (count) => void (events.flushed += count),
    failed: () => void events.failed++,
    deadLettered: () => undefined,
  });
  const stop = new AbortController();
  const running = flusher.run(stop.signal);
  return {
    events,
    /**
     * Resolves once every command the flusher queued before this call (its XACKs included) has
     * been answered: Redis answers one connection's commands in order, and none of them blocks
     * while batches are in flight (the flusher never BLOCKs then).
     */
    async barrier(): Promise<void> {
      // Let every continuation already due run first, e.g. an acknowledgement after a write.
      await new Promise((resolve) => setImmediate(resolve));
      await connection.ping();
    },
    async stop() {
      stop.abort();
      await running;
      connection.disconnect();
    },
  };
}

async function pendingCount(setup: Setup): Promise<number> {
  let pending = 0;
  for (const stream of setup.keys.streams())
    pending += Number(((await setup.redis.xpending(stream, DEFAULT_FLUSHER_OPTIONS.group)) as [number])[0]);
  return pending;
}

async function backlog(setup: Setup): Promise<number> {
  let total = 0;
  for (const stream of setup.keys.streams()) total += await setup.redis.xlen(stream);
  return total;
}

/** Every room's seqs in Cassandra, in order. */
async function storedSeqs(setup: Setup): Promise<number[][]> {
  return Promise.all(
    setup.rooms.map(async (room) => {
      const messages = await setup.timeline.after(room, 0, 10_000);
      return messages.map((m) => m.seq);
    }),
  );
}

function assertEveryMessageOnce(seqs: number[][], count: number): void {
  seqs.forEach((roomSeqs, i) => {
    const expected = Math.floor(count / ROOMS) + (i < count % ROOMS ? 1 : 0);
    assert.deepEqual(
      roomSeqs,
      Array.from({ length: expected }, (_, k) => k + 1),
      `room ${i}: every seq once, in order`,
    );
  });
}

/** Nothing pending in the group, and every message in Cassandra exactly once. */
async function assertAllFlushedOnce(setup: Setup, count: number): Promise<void> {
  assert.equal(await pendingCount(setup), 0);
  assertEveryMessageOnce(await storedSeqs(setup), count);
}

/** `count` messages buffered, and a flusher (batches of 20, 3 in flight) whose first batch's write is held. */
async function flusherWithHeldFirstBatch(
  setup: Setup,
  count: number,
): Promise<{ timeline: HeldFirstWrite; flusher: ReturnType<typeof startFlusher> }> {
  await appendMessages(setup, count);
  const timeline = new HeldFirstWrite(setup.cassandra);
  return { timeline, flusher: startFlusher(setup, timeline, { batchSize: 20, maxBatchesInFlight: 3 }) };
}

/** A Timeline whose first write is held until `release()` (or failed with `fail()`); the others go through. */
class HeldFirstWrite extends Timeline {
  private calls = 0;
  private gate!: { resolve: () => void; reject: (error: Error) => void };
  private readonly held = new Promise<void>((resolve, reject) => (this.gate = { resolve, reject }));
  /** Resolves once a later write (not the held one) completed. */
  readonly laterWriteDone: Promise<void>;
  private markLaterWriteDone!: () => void;

  constructor(client: CassandraClient) {
    super(client, DEFAULT_STREAM_CONFIG.bucketWidthInMs);
    this.laterWriteDone = new Promise((resolve) => (this.markLaterWriteDone = resolve));
  }

  private laterWrites = 0;
  private readonly laterWriteWaiters: { count: number; resolve: () => void }[] = [];

  /** Resolves once `count` later writes (not the held one) completed. */
  laterWritesDone(count: number): Promise<void> {
    if (this.laterWrites >= count) return Promise.resolve();
    return new Promise((resolve) => this.laterWriteWaiters.push({ count, resolve }));
  }

  release(): void {
    this.gate.resolve();
  }

  fail(error: Error): void {
    this.gate.reject(error);
  }

  override async write(messages: readonly ChatMessage[]): Promise<void> {
    const call = ++this.calls;
    if (call === 1) {
      await this.held;
      return super.write(messages);
    }
    await super.write(messages);
    this.markLaterWriteDone();
    this.laterWrites += 1;
    for (const waiter of this.laterWriteWaiters) if (waiter.count <= this.laterWrites) waiter.resolve();
  }
}

test("several batches in flight: every message reaches Cassandra once, nothing stays pending", { timeout: 60_000 }, async () => {
  const setup = await setUp();
  try {
    const count = 600;
    await appendMessages(setup, count);
    // An entry that failed before (a count left by an earlier attempt): its count goes once it is written.
    const stream = setup.keys.stream(0);
    const [[failedBefore]] = (await setup.redis.xrange(stream, "-", "+", "COUNT", 1)) as [[string, string[]]];
    await setup.redis.hset(setup.keys.flushFailures(stream), failedBefore, 2);
    // 20 entries per shard per batch: ~15 batches, up to 3 of them in flight.
    const flusher = startFlusher(setup, setup.timeline, { batchSize: 20, maxBatchesInFlight: 3 });
    try {
      await eventually("the buffer drained", async () => ((await backlog(setup)) === 0 ? true : undefined));
    } finally {
      await flusher.stop();
    }
    assert.equal(await pendingCount(setup), 0);
    assert.equal(flusher.events.flushed, count);
    assert.equal(flusher.events.failed, 0);
    assert.equal(await setup.redis.exists(setup.keys.flushFailures(stream)), 0, "the failure count of the entry written now is gone");
    assertEveryMessageOnce(await storedSeqs(setup), count);
  } finally {
    await setup.stop();
  }
});

test("a batch is not acknowledged before the batches read before it are in Cassandra", { timeout: 60_000 }, async () => {
  const setup = await setUp();
  try {
    const count = 120;
    const { timeline, flusher } = await flusherWithHeldFirstBatch(setup, count);
    try {
      // Both later batches (3 in flight) are in Cassandra while the first one is still being
      // written, and whatever the flusher did about them has reached Redis...
      await timeline.laterWritesDone(2);
      await flusher.barrier();
      // ...yet nothing is acknowledged: every entry read so far is still pending and in the stream.
      assert.equal(flusher.events.flushed, 0);
      assert.equal(await backlog(setup), count);
      timeline.release();
      await eventually("the buffer drained", async () => ((await backlog(setup)) === 0 ? true : undefined));
    } finally {
      timeline.release();
      await flusher.stop();
    }
    await assertAllFlushedOnce(setup, count);
  } finally {
    await setup.stop();
  }
});

test("an outage on an earlier batch leaves the later ones pending; all are written once it is over", { timeout: 60_000 }, async () => {
  const setup = await setUp();
  try {
    const count = 120;
    const { timeline, flusher } = await flusherWithHeldFirstBatch(setup, count);
    try {
      await timeline.laterWriteDone;
      // Not an entry error (it names no row): the whole batch, and those behind it, stay pending.
      timeline.fail(new Error("simulated outage: no host available"));
      await eventually("the buffer drained", async () => ((await backlog(setup)) === 0 ? true : undefined));
    } finally {
      await flusher.stop();
    }
    assert.ok(flusher.events.failed >= 1, "the outage was counted");
    await assertAllFlushedOnce(setup, count);
  } finally {
    await setup.stop();
  }
});
