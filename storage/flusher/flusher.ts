/**
 * Drains the write-buffer streams into Cassandra with a consumer group.
 *
 * Invariant: an entry is acknowledged (XACK) and deleted (XDEL) only after Cassandra confirmed
 * its rows, so a flusher killed at any point leaves the entry pending; it is read again by the
 * same consumer on restart (pending entries are read first) or claimed by another one with
 * XAUTOCLAIM once idle. Writes are idempotent upserts, so writing an entry twice is harmless.
 *
 * Batches are pipelined: while up to `maxBatchesInFlight` batches are being written (sharing
 * the Timeline's one window of requests), the next one is read and decoded, so Cassandra does
 * not wait for Redis at batch boundaries. Batches are still acknowledged in the order they were
 * read, each only after its own rows and every earlier batch's are confirmed; behind an outage
 * nothing is acknowledged, and our pending entries are re-read only once nothing is in flight.
 *
 * Failures are told apart: an outage (no host, timeouts, unavailable replicas) fails the whole
 * batch, which stays pending and is retried with bounded backoff, however long it lasts. A
 * failure of one entry's own (Cassandra rejects the row, the driver cannot encode it) is found
 * by writing the batch's entries one by one; the others are acknowledged at once, and the
 * entry goes to the dead-letter stream, with the error, after `maxEntryFailures` such failures.
 */
import { writeSync } from "node:fs";
import type { Redis } from "ioredis";
import type { Timeline } from "../cassandra/timeline.js";
import type { RedisKeys } from "../keys.js";
import { decodeMessage, type ChatMessage } from "../message.js";
import { parseReadReply, type StreamEntry } from "../stream/entries.js";
import type { Logger } from "../../common/logger.js";
import { isEntryError } from "./errors.js";

/**
 * Fault injection for the fault tests (test/faults/), off unless CHAT_FLUSHER_CRASH_AT is set:
 * the process SIGKILLs itself at that point of its first non-empty batch, which is the only way
 * to kill it reliably *between* two given steps. Never set it in production.
 */
export const CRASH_POINTS = ["before-write", "before-ack"] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface FlusherOptions {
  /** Consumer group shared by all flushers. */
  group: string;
  /** This process's consumer name: unique per process. */
  consumer: string;
  /** At most this many entries per shard stream in one batch. */
  batchSize: number;
  /**
   * Batches between being read and being acknowledged at once: the next batch is read, decoded
   * and queued for Cassandra while the earlier ones are written and acknowledged. 1 = one
   * batch after the other.
   */
  maxBatchesInFlight: number;
  /**
   * Time-based batching: after a read that did not fill the batch, keep reading for up to this
   * long before writing, so a trickle of sends becomes a few batches instead of many tiny ones.
   */
  lingerInMs: number;
  /** How long one XREADGROUP blocks when the streams are empty; bounds shutdown time too. */
  blockInMs: number;
  /** Pending entries idle this long are claimed from their (presumably dead) consumer. */
  claimIdleInMs: number;
  /** How many messages are kept in each room's recent-history zset after they are flushed. */
  recentKeepPerRoom: number;
  /** Backoff after a failed Cassandra write, doubling from min to max. */
  retryMinInMs: number;
  retryMaxInMs: number;
  /** An entry that failed this many times for a reason of its own is dead-lettered. */
  maxEntryFailures: number;
  crashAt?: CrashPoint | undefined;
}

export const DEFAULT_FLUSHER_OPTIONS: Omit<FlusherOptions, "consumer"> = {
  group: "flushers",
  batchSize: 5000,
  maxBatchesInFlight: 3,
  lingerInMs: 20,
  blockInMs: 1000,
  claimIdleInMs: 30_000,
  recentKeepPerRoom: 200,
  retryMinInMs: 100,
  retryMaxInMs: 5000,
  maxEntryFailures: 5,
};

export interface FlusherEvents {
  flushed(count: number, seconds: number): void;
  failed(error: unknown): void;
  deadLettered(count: number): void;
}

interface DecodedEntry {
  entry: StreamEntry;
  message: ChatMessage;
}

interface Poison {
  entry: StreamEntry;
  error: string;
}

/** The result of a batch's Cassandra write: the error, if it failed. */
interface WriteResult {
  error: unknown;
}

/** What happened to a batch: entries done with (acked), and whether some must be retried. */
interface BatchOutcome {
  /** Entries left pending because of an outage: back off before the next try. */
  outage: unknown;
  /** Entries left pending after failing for a reason of their own: retry soon. */
  retryEntries: boolean;
}

const CLEAN: BatchOutcome = { outage: undefined, retryEntries: false };

export class Flusher {
  /** Read our own pending entries (id "0") before new ones (">"): after a restart or a failure. */
  private readPendingFirst = true;
  private lastClaimAt = 0;
  private crashArmed: boolean;
  private backoffInMs = 0;
  /** Batches handed to Cassandra and not yet collected, oldest first. */
  private inFlight: Promise<BatchOutcome>[] = [];
  /** The newest batch's outcome: each batch is acknowledged only after the one read before it. */
  private lastInOrder: Promise<BatchOutcome> = Promise.resolve(CLEAN);

  constructor(
    /** A connection of its own: XREADGROUP BLOCK holds it while waiting. */
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly timeline: Timeline,
    private readonly options: FlusherOptions,
    private readonly logger: Logger,
    private readonly events: FlusherEvents,
  ) {
    this.crashArmed = options.crashAt !== undefined;
  }

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

  /** Runs until `signal` aborts; resolves after the batches in flight are finished. */
  async run(signal: AbortSignal): Promise<void> {
    let groupsReady = false;
    while (!signal.aborted) {
      try {
        // Also after a Redis restart that lost the groups (no AOF): XREADGROUP would fail NOGROUP.
        if (!groupsReady) await this.ensureGroups();
        groupsReady = true;
        await this.claimAbandonedEntries();
        await this.step(signal);
      } catch (error) {
        // Nothing may be in flight while we back off and then read our pending entries again.
        await this.settleAll();
        this.events.failed(error);
        this.readPendingFirst = true;
        if (error instanceof Error && error.message.startsWith("NOGROUP")) groupsReady = false;
        this.backoffInMs = Math.min(this.options.retryMaxInMs, Math.max(this.options.retryMinInMs, this.backoffInMs * 2));
        this.logger.warn({ err: error, backoffInMs: this.backoffInMs }, "flush failed; entries stay pending and are retried");
        await sleepUnlessAborted(this.backoffInMs, signal);
      }
    }
    await this.settleAll();
  }

  /**
   * One step of the pipeline: hand the next batch to Cassandra while up to
   * `maxBatchesInFlight - 1` earlier ones are still being written or acknowledged, so that
   * Cassandra never waits for Redis reads, decoding or acknowledgements; or, when the pipeline
   * is full or the streams are empty, wait for the oldest batch.
   */
  private async step(signal: AbortSignal): Promise<void> {
    // Our pending entries include those in flight: read them again only once none is.
    const mustWait = this.inFlight.length >= this.options.maxBatchesInFlight || (this.readPendingFirst && this.inFlight.length > 0);
    if (mustWait) return this.collectOldest(signal);
    if (this.inFlight.length === 0) {
      const entries = await this.read();
      if (entries.length > 0) this.submit(entries);
      return;
    }
    // Never BLOCK with batches in flight: their XACKs queue behind a blocked read on this connection.
    const entries = await this.readGroup(">", this.options.batchSize);
    if (entries.length > 0) this.submit(entries);
    else await this.collectOldest(signal);
  }

  /** Waits for the oldest batch in flight; throws its outage, so the loop backs off. */
  private async collectOldest(signal: AbortSignal): Promise<void> {
    const outcome = await this.inFlight.shift()!;
    if (outcome.outage !== undefined) throw outcome.outage;
    this.backoffInMs = 0;
    if (outcome.retryEntries) {
      this.readPendingFirst = true;
      await sleepUnlessAborted(this.options.retryMinInMs, signal);
    }
  }

  /** Waits for every batch in flight, whatever its outcome (the loop re-reads what stayed pending). */
  private async settleAll(): Promise<void> {
    await Promise.all(this.inFlight);
    this.inFlight = [];
    this.lastInOrder = Promise.resolve(CLEAN);
  }

  /**
   * One batch when nothing is in flight: our pending entries first (after a restart, a claim or
   * a failure), topped up with new ones so that an entry being retried never holds back the
   * entries behind it; a partial batch lingers briefly for more.
   */
  private async read(): Promise<StreamEntry[]> {
    const { batchSize, blockInMs, lingerInMs } = this.options;
    let entries: StreamEntry[] = [];
    if (this.readPendingFirst) {
      entries = await this.readGroup("0", batchSize);
      if (entries.length === 0) this.readPendingFirst = false;
    }
    const fresh = await this.readGroup(">", batchSize, entries.length === 0 ? blockInMs : undefined);
    entries = entries.concat(fresh);
    if (fresh.length === 0 || fresh.length >= batchSize || lingerInMs <= 0) return entries;
    const lingerUntil = Date.now() + lingerInMs;
    let added = fresh.length;
    while (added < batchSize) {
      const left = lingerUntil - Date.now();
      if (left < 1) break;
      const more = await this.readGroup(">", batchSize - added, left);
      if (more.length === 0) break;
      entries = entries.concat(more);
      added += more.length;
    }
    return entries;
  }

  /** XREADGROUP over every shard stream from `from` ("0": our pending ones, ">": new ones). */
  private async readGroup(from: "0" | ">", count: number, blockInMs?: number): Promise<StreamEntry[]> {
    const streams = this.keys.streams();
    const { group, consumer } = this.options;
    const ids = streams.map(() => from);
    const reply =
      blockInMs === undefined
        ? await this.redis.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", ...streams, ...ids)
        : await this.redis.xreadgroup("GROUP", group, consumer, "COUNT", count, "BLOCK", Math.max(1, Math.round(blockInMs)), "STREAMS", ...streams, ...ids);
    return parseReadReply(reply);
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

  /** Decodes the entries and starts writing them at once; the outcome joins the pipeline. */
  private submit(entries: StreamEntry[]): void {
    const started = process.hrtime.bigint();
    const decoded: DecodedEntry[] = [];
    const undecodable: Poison[] = [];
    for (const entry of entries) {
      try {
        decoded.push({ entry, message: decodeMessage(entry.payload ?? "") });
      } catch (error) {
        undecodable.push({ entry, error: errorText(error) });
      }
    }
    if (decoded.length > 0) this.crashIfArmed("before-write");
    const written: Promise<WriteResult> =
      decoded.length === 0
        ? Promise.resolve({ error: undefined })
        : this.timeline.write(decoded.map(({ message }) => message)).then(
            () => ({ error: undefined }),
            (error: unknown) => ({ error: error ?? new Error("Cassandra write failed") }),
          );
    const done = this.finish({ decoded, undecodable, written, started, earlier: this.lastInOrder });
    this.lastInOrder = done;
    this.inFlight.push(done);
  }

  /**
   * Settles a batch once its write and every earlier batch are done: acknowledges its entries,
   * or isolates the entries Cassandra rejects, or leaves it all pending. Never rejects: a failure
   * is an outcome, collected by the loop in order.
   */
  private async finish(batch: { decoded: DecodedEntry[]; undecodable: Poison[]; written: Promise<WriteResult>; started: bigint; earlier: Promise<BatchOutcome> }): Promise<BatchOutcome> {
    const { decoded, undecodable, started } = batch;
    try {
      const [{ error }, earlier] = await Promise.all([batch.written, batch.earlier]);
      // Behind an outage nothing is acknowledged (the recent-history trim assumes earlier seqs
      // are in Cassandra); the loop backs off and reads every pending entry again.
      if (earlier.outage !== undefined) return earlier;
      // Nothing can ever make these decodable: no point in retrying them.
      if (undecodable.length > 0) await this.deadLetter(undecodable);
      if (decoded.length === 0) return CLEAN;
      if (error !== undefined) {
        if (!isEntryError(error)) return { outage: error, retryEntries: false };
        this.logger.warn({ err: error, entries: decoded.length }, "a batch write was rejected; writing its entries one by one to find the culprit");
        return await this.flushOneByOne(decoded, started);
      }
      this.crashIfArmed("before-ack");
      await this.acknowledge(decoded);
      this.events.flushed(decoded.length, secondsSince(started));
      return CLEAN;
    } catch (error) {
      return { outage: error ?? new Error("flush failed"), retryEntries: false };
    }
  }

  /**
   * Isolates the entries Cassandra rejects, so that one poison row does not block the rest.
   * The single-row writes share the Timeline's bounded window, however large the batch.
   */
  private async flushOneByOne(decoded: DecodedEntry[], started: bigint): Promise<BatchOutcome> {
    const results = await Promise.allSettled(decoded.map(({ message }) => this.timeline.write([message])));
    const written: DecodedEntry[] = [];
    const rejected: { item: DecodedEntry; error: unknown }[] = [];
    let outage: unknown;
    results.forEach((result, i) => {
      if (result.status === "fulfilled") written.push(decoded[i]!);
      else if (isEntryError(result.reason)) rejected.push({ item: decoded[i]!, error: result.reason });
      else outage ??= result.reason;
    });
    if (written.length > 0) {
      await this.acknowledge(written);
      this.events.flushed(written.length, secondsSince(started));
    }
    const poison: Poison[] = [];
    for (const { item, error } of rejected) {
      const failures = await this.redis.hincrby(this.keys.flushFailures(item.entry.stream), item.entry.id, 1);
      this.logger.warn({ stream: item.entry.stream, id: item.entry.id, failures, err: error }, "Cassandra rejected an entry");
      if (failures >= this.options.maxEntryFailures) poison.push({ entry: item.entry, error: errorText(error) });
    }
    if (poison.length > 0) await this.deadLetter(poison);
    return { outage, retryEntries: rejected.length > poison.length };
  }

  /**
   * Moves entries that can never be written to the dead-letter stream, with the reason, and
   * takes them out of the buffer in the same MULTI: an entry is in exactly one of the two.
   */
  private async deadLetter(poison: Poison[]): Promise<void> {
    const multi = this.redis.multi();
    for (const { entry, error } of poison) {
      multi.xadd(this.keys.deadLetterStream(), "*", "stream", entry.stream, "entry", entry.id, "error", error, "m", entry.payload ?? "");
      multi.xack(entry.stream, this.options.group, entry.id);
      multi.xdel(entry.stream, entry.id);
      multi.hdel(this.keys.flushFailures(entry.stream), entry.id);
    }
    throwOnFailure(await multi.exec());
    this.events.deadLettered(poison.length);
    this.logger.error({ count: poison.length, entries: poison.map(({ entry, error }) => ({ stream: entry.stream, id: entry.id, error })) }, "entries moved to the dead-letter stream");
  }

  /** XACK + XDEL the flushed entries, and trim recent-history zsets to what readers still want. */
  private async acknowledge(flushed: DecodedEntry[]): Promise<void> {
    const idsByStream = new Map<string, string[]>();
    const newestSeqByRoom = new Map<string, number>();
    for (const { entry, message } of flushed) {
      const ids = idsByStream.get(entry.stream);
      if (ids) ids.push(entry.id);
      else idsByStream.set(entry.stream, [entry.id]);
      newestSeqByRoom.set(message.room, Math.max(message.seq, newestSeqByRoom.get(message.room) ?? 0));
    }

    // MULTI: an entry acknowledged but not deleted would count against the buffer cap forever.
    const pipeline = this.redis.multi();
    for (const [stream, ids] of idsByStream) {
      pipeline.xack(stream, this.options.group, ...ids);
      pipeline.xdel(stream, ...ids);
      // Failure counts of entries that failed before and were written now.
      pipeline.hdel(this.keys.flushFailures(stream), ...ids);
    }
    for (const [room, newestSeq] of newestSeqByRoom) {
      // Only flushed seqs are trimmed: everything at or below newestSeq of this room is in Cassandra
      // (a room lives in one shard, read in order) except entries a dead consumer still held,
      // which are claimed and rewritten; readers fall back to Cassandra for any seq Redis lacks.
      pipeline.zremrangebyscore(this.keys.roomRecent(room), "-inf", newestSeq - this.options.recentKeepPerRoom);
    }
    throwOnFailure(await pipeline.exec());
  }

  private crashIfArmed(point: CrashPoint): void {
    if (!this.crashArmed || this.options.crashAt !== point) return;
    this.crashArmed = false;
    // Written synchronously: pino's asynchronous line would die with the process.
    writeSync(2, `${JSON.stringify({ level: 40, time: Date.now(), consumer: this.options.consumer, crashAt: point, msg: "CHAT_FLUSHER_CRASH_AT: killing this process with SIGKILL (fault injection)" })}\n`);
    process.kill(process.pid, "SIGKILL");
  }
}

function throwOnFailure(results: [Error | null, unknown][] | null): void {
  const failure = results?.find(([error]) => error);
  if (failure) throw failure[0];
  if (results === null) throw new Error("Redis transaction aborted");
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
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
