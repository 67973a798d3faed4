/**
 * Drains the write-buffer streams into Cassandra with a consumer group.
 *
 * Invariant: an entry is acknowledged (XACK) and deleted (XDEL) only after Cassandra confirmed
 * its rows, so a flusher killed at any point leaves the entry pending; it is read again by the
 * same consumer on restart (pending entries are read first) or claimed by another one with
 * XAUTOCLAIM once idle. Writes are idempotent upserts, so writing an entry twice is harmless.
 */
import type { Redis } from "ioredis";
import type { Timeline } from "../cassandra/timeline.js";
import type { RedisKeys } from "../keys.js";
import { decodeMessage, type ChatMessage } from "../message.js";
import { parseReadReply, type StreamEntry } from "../stream/entries.js";
import type { Logger } from "../../common/logger.js";

export interface FlusherOptions {
  /** Consumer group shared by all flushers. */
  group: string;
  /** This process's consumer name: unique per process. */
  consumer: string;
  /** Entries read per XREADGROUP, over all shards. */
  batchSize: number;
  /** How long one XREADGROUP blocks when the streams are empty; bounds shutdown time too. */
  blockInMs: number;
  /** Pending entries idle this long are claimed from their (presumably dead) consumer. */
  claimIdleInMs: number;
  /** How many messages are kept in each room's recent-history zset after they are flushed. */
  recentKeepPerRoom: number;
  /** Backoff after a failed Cassandra write, doubling from min to max. */
  retryMinInMs: number;
  retryMaxInMs: number;
}

export const DEFAULT_FLUSHER_OPTIONS: Omit<FlusherOptions, "consumer"> = {
  group: "flushers",
  batchSize: 500,
  blockInMs: 1000,
  claimIdleInMs: 30_000,
  recentKeepPerRoom: 200,
  retryMinInMs: 100,
  retryMaxInMs: 5000,
};

export interface FlusherEvents {
  flushed(count: number, seconds: number): void;
  failed(error: unknown): void;
  deadLettered(count: number): void;
}

export class Flusher {
  /** Read our own pending entries (id "0") before new ones (">"): after a restart or a failure. */
  private readPendingFirst = true;
  private lastClaimAt = 0;

  constructor(
    /** A connection of its own: XREADGROUP BLOCK holds it while waiting. */
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly timeline: Timeline,
    private readonly options: FlusherOptions,
    private readonly logger: Logger,
    private readonly events: FlusherEvents,
  ) {}

  /** Creates the consumer group on every shard stream (and the streams), if missing. */
  async ensureGroups(): Promise<void> {
    for (const stream of this.keys.streams()) {
      try {
        await this.redis.xgroup("CREATE", stream, this.options.group, "0", "MKSTREAM");
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith("BUSYGROUP"))) throw error;
      }
    }
  }

  /** Runs until `signal` aborts; resolves after the batch in progress is finished. */
  async run(signal: AbortSignal): Promise<void> {
    await this.ensureGroups();
    let backoffInMs = 0;
    while (!signal.aborted) {
      try {
        await this.claimAbandonedEntries();
        const entries = await this.read();
        if (entries.length > 0) await this.flush(entries);
        backoffInMs = 0;
      } catch (error) {
        this.events.failed(error);
        this.readPendingFirst = true;
        backoffInMs = Math.min(this.options.retryMaxInMs, Math.max(this.options.retryMinInMs, backoffInMs * 2));
        this.logger.warn({ err: error, backoffInMs }, "flush failed; entries stay pending and are retried");
        await sleepUnlessAborted(backoffInMs, signal);
      }
    }
  }

  private async read(): Promise<StreamEntry[]> {
    const streams = this.keys.streams();
    const { group, consumer, batchSize, blockInMs } = this.options;
    if (this.readPendingFirst) {
      const pending = parseReadReply(await this.redis.xreadgroup("GROUP", group, consumer, "COUNT", batchSize, "STREAMS", ...streams, ...streams.map(() => "0")));
      if (pending.length > 0) return pending;
      this.readPendingFirst = false;
    }
    return parseReadReply(await this.redis.xreadgroup("GROUP", group, consumer, "COUNT", batchSize, "BLOCK", blockInMs, "STREAMS", ...streams, ...streams.map(() => ">")));
  }

  /** XAUTOCLAIM entries another consumer took but never acknowledged; they are then ours to read. */
  private async claimAbandonedEntries(): Promise<void> {
    const now = Date.now();
    if (now - this.lastClaimAt < this.options.claimIdleInMs / 2) return;
    this.lastClaimAt = now;
    for (const stream of this.keys.streams()) {
      let cursor = "0-0";
      do {
        const [next, claimed] = (await this.redis.xautoclaim(stream, this.options.group, this.options.consumer, this.options.claimIdleInMs, cursor, "COUNT", this.options.batchSize, "JUSTID")) as [string, string[]];
        if (claimed.length > 0) {
          this.readPendingFirst = true;
          this.logger.info({ stream, claimed: claimed.length }, "claimed entries of an idle consumer");
        }
        cursor = next;
      } while (cursor !== "0-0");
    }
  }

  private async flush(entries: StreamEntry[]): Promise<void> {
    const started = process.hrtime.bigint();
    const messages: ChatMessage[] = [];
    const poison: { entry: StreamEntry; error: string }[] = [];
    for (const entry of entries) {
      try {
        messages.push(decodeMessage(entry.payload ?? ""));
      } catch (error) {
        poison.push({ entry, error: error instanceof Error ? error.message : String(error) });
      }
    }
    if (poison.length > 0) await this.deadLetter(poison);
    await this.timeline.write(messages);
    await this.acknowledge(entries, messages);
    this.events.flushed(messages.length, Number(process.hrtime.bigint() - started) / 1e9);
  }

  /** Moves entries that can never be written to the dead-letter stream, with the reason. */
  private async deadLetter(poison: { entry: StreamEntry; error: string }[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const { entry, error } of poison) {
      pipeline.xadd(this.keys.deadLetterStream(), "*", "stream", entry.stream, "entry", entry.id, "error", error, "m", entry.payload ?? "");
    }
    await pipeline.exec();
    this.events.deadLettered(poison.length);
    this.logger.error({ count: poison.length, entries: poison.map(({ entry, error }) => ({ stream: entry.stream, id: entry.id, error })) }, "entries moved to the dead-letter stream");
  }

  /** XACK + XDEL the flushed entries, and trim recent-history zsets to what readers still want. */
  private async acknowledge(entries: StreamEntry[], messages: ChatMessage[]): Promise<void> {
    const idsByStream = new Map<string, string[]>();
    for (const entry of entries) idsByStream.set(entry.stream, [...(idsByStream.get(entry.stream) ?? []), entry.id]);
    const newestSeqByRoom = new Map<string, number>();
    for (const m of messages) newestSeqByRoom.set(m.room, Math.max(m.seq, newestSeqByRoom.get(m.room) ?? 0));

    const pipeline = this.redis.pipeline();
    for (const [stream, ids] of idsByStream) {
      pipeline.xack(stream, this.options.group, ...ids);
      pipeline.xdel(stream, ...ids);
    }
    for (const [room, newestSeq] of newestSeqByRoom) {
      // Only flushed seqs are trimmed: everything at or below newestSeq of this room is in Cassandra
      // (a room lives in one shard, read in order) except entries a dead consumer still held,
      // which are claimed and rewritten; readers fall back to Cassandra for any seq Redis lacks.
      pipeline.zremrangebyscore(this.keys.roomRecent(room), "-inf", newestSeq - this.options.recentKeepPerRoom);
    }
    const results = await pipeline.exec();
    const failure = results?.find(([error]) => error);
    if (failure) throw failure[0];
  }
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
