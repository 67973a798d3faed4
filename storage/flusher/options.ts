/** The flusher's settings, its defaults, and the seams it is built from. */
import type { LogEntry } from "../change.js";
import type { ProjectedEntry } from "../cassandra/projection.js";
import type { StreamEntry } from "../stream/entries.js";
import type { ChatMessage } from "../message.js";
import { DEFAULT_STREAM_CONFIG } from "../config.js";

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
  /**
   * CHAT_RECEIPT_WINDOW_MS: once an entry and its receipt row are in Cassandra, its Redis
   * receipt is shortened to this (acknowledger.ts; storage/cassandra/receipts.ts).
   */
  receiptWindowInMs: number;
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
  receiptWindowInMs: DEFAULT_STREAM_CONFIG.receiptWindowInMs,
};

/** What the flusher reports, for its metrics. */
export interface FlusherEvents {
  flushed(count: number, seconds: number): void;
  failed(error: unknown): void;
  deadLettered(count: number): void;
}

/**
 * Where a batch's rows go: the Timeline in production. Writes must be idempotent upserts (an
 * entry is written again after a crash between its write and its XACK), and a rejection that
 * `isEntryError` recognises must mean "this row", anything else "Cassandra is unavailable".
 */
export interface RowWriter {
  /** Messages and changes of rooms' logs (storage/cassandra/projection.ts). */
  write(entries: readonly (LogEntry | ProjectedEntry)[]): Promise<void>;
}

/**
 * Gives a message whose seq Cassandra already holds for another message a new seq (the
 * producer's RESEQUENCE_SCRIPT), instead of dead-lettering an acknowledged message. Resolves
 * with the new seq, or undefined when the entry was already gone from the stream.
 */
export interface Resequencer {
  resequence(entry: StreamEntry, message: ChatMessage, group: string): Promise<{ seq: number } | undefined>;
}
