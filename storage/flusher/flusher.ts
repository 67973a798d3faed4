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
 *
 * This file is the loop and its pipeline; reading and claiming are in reader.ts, writing a
 * batch in batch.ts, acknowledging and dead-lettering in acknowledger.ts.
 */
import type { Logger } from "../../common/logger.js";
import type { RedisKeys } from "../keys.js";
import type { RedisClient } from "../redis-client.js";
import type { StreamEntry } from "../stream/entries.js";
import { Acknowledger } from "./acknowledger.js";
import { BatchWriter, CLEAN, type BatchOutcome } from "./batch.js";
import type { FlusherEvents, FlusherOptions, Resequencer, RowWriter } from "./options.js";
import { StreamReader } from "./reader.js";

export class Flusher {
  private readonly reader: StreamReader;
  private readonly batches: BatchWriter;
  private backoffInMs = 0;
  /** Batches handed to Cassandra and not yet collected, oldest first. */
  private inFlight: Promise<BatchOutcome>[] = [];
  /** The newest batch's outcome: each batch is acknowledged only after the one read before it. */
  private lastInOrder: Promise<BatchOutcome> = Promise.resolve(CLEAN);

  constructor(
    /** A connection of its own: XREADGROUP BLOCK holds it while waiting. */
    redis: RedisClient,
    keys: RedisKeys,
    /** Where the rows go: the Timeline. */
    rows: RowWriter,
    private readonly options: FlusherOptions,
    private readonly logger: Logger,
    private readonly events: FlusherEvents,
    /** Renumbers a message whose seq Cassandra holds for another one (docs/durability.md, "No seq reused"). */
    resequencer?: Resequencer,
  ) {
    this.reader = new StreamReader(redis, keys, options, logger);
    this.batches = new BatchWriter(rows, new Acknowledger(redis, keys, options, logger, events), options, logger, events, resequencer);
  }

  /** Creates the consumer group on every shard stream (and the streams), if missing. */
  ensureGroups(): Promise<void> {
    return this.reader.ensureGroups();
  }

  /** Runs until `signal` aborts; resolves after the batches in flight are finished. */
  async run(signal: AbortSignal): Promise<void> {
    let groupsReady = false;
    while (!signal.aborted) {
      try {
        // Also after a Redis restart that lost the groups (no AOF): XREADGROUP would fail NOGROUP.
        if (!groupsReady) await this.reader.ensureGroups();
        groupsReady = true;
        await this.reader.claimAbandonedEntries();
        await this.step(signal);
      } catch (error) {
        // Nothing may be in flight while we back off and then read our pending entries again.
        await this.settleAll();
        this.events.failed(error);
        this.reader.rereadPending();
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
    const mustWait = this.inFlight.length >= this.options.maxBatchesInFlight || (this.reader.readsPendingFirst && this.inFlight.length > 0);
    if (mustWait) return this.collectOldest(signal);
    if (this.inFlight.length === 0) {
      const entries = await this.reader.readBatch();
      if (entries.length > 0) this.submit(entries);
      return;
    }
    // Never BLOCK with batches in flight: their XACKs queue behind a blocked read on this connection.
    const entries = await this.reader.readNew();
    if (entries.length > 0) this.submit(entries);
    else await this.collectOldest(signal);
  }

  /** Waits for the oldest batch in flight; throws its outage, so the loop backs off. */
  private async collectOldest(signal: AbortSignal): Promise<void> {
    const outcome = await this.inFlight.shift()!;
    if (outcome.outage !== undefined) throw outcome.outage;
    this.backoffInMs = 0;
    if (outcome.retryEntries) {
      this.reader.rereadPending();
      await sleepUnlessAborted(this.options.retryMinInMs, signal);
    }
  }

  /** Waits for every batch in flight, whatever its outcome (the loop re-reads what stayed pending). */
  private async settleAll(): Promise<void> {
    await Promise.all(this.inFlight);
    this.inFlight = [];
    this.lastInOrder = Promise.resolve(CLEAN);
  }

  /** Starts writing a batch at once; its outcome joins the pipeline, after the one read before it. */
  private submit(entries: StreamEntry[]): void {
    const done = this.batches.flush(entries, this.lastInOrder);
    this.lastInOrder = done;
    this.inFlight.push(done);
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
