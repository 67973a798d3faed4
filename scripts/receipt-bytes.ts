/**
 * `npm run receipts:bytes`: Redis bytes per acknowledged send, with idempotency receipts kept in
 * Redis only for the receipt window once flushed (docs/security.md "Memory").
 *
 * Runs the node's own send path (MessageBuffer: rate-free, the append script) and the flusher's
 * (Flusher, Timeline, receipts to Cassandra, PEXPIRE to the window) in-process against the Redis
 * of CHAT_REDIS_URL (a single Redis; MEMORY USAGE is per key) and the Cassandra of
 * CHAT_CASSANDRA_CONTACT_POINTS, under a fresh key prefix and keyspace, dropped at the end:
 *
 * 1. warm-up: SENDS sends over ROOMS rooms by USERS users, flushed, window passed, so every
 *    room's recent history (CHAT_RECENT_KEEP_PER_ROOM messages, bounded per room) is full;
 * 2. SENDS more sends with the flusher held: the bytes right after them (receipts for 24 h,
 *    entries in the streams), then flushed and the window passed;
 * 3. SENDS more sends with the flusher running, flushed, the window passed: the growth over (2),
 *    divided by SENDS, is what each acknowledged send leaves in Redis for good. (Step 2's
 *    held backlog also grows the rooms' recent-history hash tables, which Redis does not shrink
 *    at that fill: a per-room amount, not a per-send one, which step 3 leaves out.)
 *
 * Bytes are the sum of MEMORY USAGE (SAMPLES 0: exact) over the prefix's keys, by kind, so other
 * users of the same Redis do not blur the figure as INFO's used_memory would.
 * Settings: RECEIPT_BYTES_SENDS (5000), RECEIPT_BYTES_ROOMS (10), RECEIPT_BYTES_USERS (50),
 * CHAT_RECEIPT_WINDOW_MS (2000 here: only its passing matters, not its length).
 */
import { Redis } from "ioredis";
import { uuidV7 } from "../client/client-id.js";
import { EnvReader } from "../common/env.js";
import { createLogger } from "../common/logger.js";
import { createCassandraClient } from "../storage/cassandra/client.js";
import { Timeline } from "../storage/cassandra/timeline.js";
import { readStorageConfig } from "../storage/config.js";
import { Flusher } from "../storage/flusher/flusher.js";
import { DEFAULT_FLUSHER_OPTIONS } from "../storage/flusher/options.js";
import { RedisKeys } from "../storage/keys.js";
import { MessageBuffer } from "../storage/stream/producer.js";
import { migrateKeyspace } from "./infra/stack.js";

const env = new EnvReader();
const sends = env.integer("RECEIPT_BYTES_SENDS", 5000, { min: 1 });
const roomCount = env.integer("RECEIPT_BYTES_ROOMS", 10, { min: 1 });
const userCount = env.integer("RECEIPT_BYTES_USERS", 50, { min: 1 });
const windowInMs = env.integer("CHAT_RECEIPT_WINDOW_MS", 2000, { min: 100 });
const base = readStorageConfig(env);
const tag = Date.now().toString(36);
const keyspace = `receipt_bytes_${tag}`;
const config = { ...base, cassandra: { ...base.cassandra, keyspace }, redis: { ...base.redis, keyPrefix: `rb-${tag}:` } };

type Kind = "receipts" | "streams" | "recent history" | "room meta" | "other";
type Bytes = Record<Kind, number> & { total: number; receiptKeys: number };

function kindOf(key: string): Kind {
  if (key.includes("}idem:")) return "receipts";
  if (key.endsWith("}stream")) return "streams";
  if (key.endsWith(":recent")) return "recent history";
  if (key.endsWith(":meta")) return "room meta";
  return "other";
}

async function measure(redis: Redis, prefix: string): Promise<Bytes> {
  const bytes: Bytes = { receipts: 0, streams: 0, "recent history": 0, "room meta": 0, other: 0, total: 0, receiptKeys: 0 };
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of found) pipeline.call("MEMORY", "USAGE", key, "SAMPLES", "0");
    const usages = (await pipeline.exec()) ?? [];
    for (const [i, key] of found.entries()) {
      const [error, usage] = usages[i] ?? [new Error("no answer"), null];
      if (error) throw error;
      if (usage === null) continue; // expired between SCAN and MEMORY USAGE
      bytes[kindOf(key)] += usage as number;
      bytes.total += usage as number;
      if (kindOf(key) === "receipts") bytes.receiptKeys++;
    }
  } while (cursor !== "0");
  return bytes;
}

async function main(): Promise<void> {
  await migrateKeyspace(config.cassandra);
  const redis = new Redis(config.redis.url);
  const cassandra = createCassandraClient(config.cassandra);
  const keys = new RedisKeys(config.redis.keyPrefix, config.stream.shards);
  const timeline = new Timeline(cassandra, config.stream.bucketWidthInMs, undefined, config.stream.idempotencyTtlInMs);
  const buffer = new MessageBuffer(redis, keys, config.stream, timeline);
  const rooms = Array.from({ length: roomCount }, (_, i) => `room-${i}`);
  const flusherConnection = redis.duplicate();
  const startFlusher = () => {
    const flusher = new Flusher(
      flusherConnection,
      keys,
      timeline,
      { ...DEFAULT_FLUSHER_OPTIONS, consumer: "receipt-bytes", lingerInMs: 0, blockInMs: 100, receiptWindowInMs: windowInMs },
      createLogger("receipt-bytes", "warn"),
      { flushed: () => undefined, failed: () => undefined, deadLettered: () => undefined },
    );
    const stop = new AbortController();
    const running = flusher.run(stop.signal);
    return async () => {
      stop.abort();
      await running;
    };
  };
  let stopFlusher = startFlusher();
  try {
    const round = async (offset: number) => {
      for (let i = offset; i < offset + sends; i++) {
        // Text of 100 characters: a typical chat line.
        const text = `message ${i} `.padEnd(100, "x");
        const outcome = await buffer.append({ room: rooms[i % roomCount]!, from: `user-${i % userCount}`, clientId: uuidV7(), text });
        if (outcome.kind !== "stored") throw new Error(`send ${i}: ${outcome.kind}`);
      }
    };
    /** Until the streams are empty (flushed) and every receipt left Redis (the window passed after the flush). */
    const drained = async () => {
      for (const started = Date.now(); ;) {
        let backlog = 0;
        for (const stream of keys.streams()) backlog += await redis.xlen(stream);
        const { receiptKeys } = await measure(redis, config.redis.keyPrefix);
        if (backlog === 0 && receiptKeys === 0) return;
        if (Date.now() - started > 120_000) throw new Error(`not drained after 120 s: ${backlog} entries, ${receiptKeys} receipts`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };

    await round(0);
    await drained();
    const warm = await measure(redis, config.redis.keyPrefix);
    await stopFlusher(); // held, so the fresh sends are measured with their receipts and entries
    await round(sends);
    const fresh = await measure(redis, config.redis.keyPrefix);
    stopFlusher = startFlusher();
    await drained();
    const settled = await measure(redis, config.redis.keyPrefix);
    await round(2 * sends);
    await drained();
    const after = await measure(redis, config.redis.keyPrefix);

    const perSend = (bytes: number) => (bytes / sends).toFixed(1);
    console.log(`${sends} sends over ${roomCount} rooms by ${userCount} users, text 100 chars, UUIDv7 clientIds, window ${windowInMs} ms`);
    const columns = ["kind          ", "1. warm", "2. unflushed", "2. flushed+W", "3. flushed+W", "B/send unflushed", "B/send for good"];
    console.log(columns.join(" | "));
    for (const kind of ["receipts", "streams", "recent history", "room meta", "other", "total"] as const) {
      const growth = [perSend(fresh[kind] - warm[kind]), perSend(after[kind] - settled[kind])];
      const cells = [kind.padEnd(columns[0]!.length), warm[kind], fresh[kind], settled[kind], after[kind], ...growth];
      console.log(cells.map((cell, i) => String(cell).padStart(columns[i]!.length)).join(" | "));
    }
    console.log(`receipt keys: ${fresh.receiptKeys} unflushed, ${after.receiptKeys} after the window`);
  } finally {
    await stopFlusher();
    flusherConnection.disconnect();
    let cursor = "0";
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", `${config.redis.keyPrefix}*`, "COUNT", 1000);
      cursor = next;
      if (found.length > 0) await redis.del(...found);
    } while (cursor !== "0");
    redis.disconnect();
    await cassandra.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
    await cassandra.shutdown();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
