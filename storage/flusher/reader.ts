/**
 * The flusher's Redis side of reading: the consumer group on every shard stream, batches read
 * with XREADGROUP (our own pending entries first when asked), and entries of dead consumers
 * taken over with XAUTOCLAIM.
 *
 * Single Redis: one XREADGROUP over every shard stream, blocking until any has entries. Redis
 * Cluster: a multi-key read may not span slots (each shard is its own slot), so each stream is
 * read by itself, all at once (the Cluster client sends each to its primary), without BLOCK
 * (a blocked read would hold the node's connection the others need); when all are empty the
 * reader waits `CLUSTER_POLL_IN_MS` (at most the block time) before reading again.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../../common/logger.js";
import type { RedisKeys } from "../keys.js";
import { isCluster, type RedisClient } from "../redis-client.js";
import { parseReadReply, type StreamEntry } from "../stream/entries.js";
import type { FlusherOptions } from "./options.js";

export type ReaderOptions = Pick<FlusherOptions, "group" | "consumer" | "batchSize" | "lingerInMs" | "blockInMs" | "claimIdleInMs">;

/** Cluster mode: pause between reads of empty streams (the flusher's added latency when idle). */
const CLUSTER_POLL_IN_MS = 20;

export class StreamReader {
  /** Read our own pending entries (id "0") before new ones (">"): after a restart, a claim or a failure. */
  private pendingFirst = true;
  private lastClaimAt = 0;

  constructor(
    /** A connection of its own: XREADGROUP BLOCK holds it while waiting. */
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly options: ReaderOptions,
    private readonly logger: Logger,
  ) {}

  /** Whether the next batch starts with our pending entries (they include those in flight). */
  get readsPendingFirst(): boolean {
    return this.pendingFirst;
  }

  /** Our pending entries are read again, first, by the next `readBatch`. */
  rereadPending(): void {
    this.pendingFirst = true;
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

  /**
   * One batch when nothing is in flight: our pending entries first (after a restart, a claim or
   * a failure), topped up with new ones so that an entry being retried never holds back the
   * entries behind it; a partial batch lingers briefly for more. Blocks up to `blockInMs`
   * when there is nothing to read.
   */
  async readBatch(): Promise<StreamEntry[]> {
    const { batchSize, blockInMs, lingerInMs } = this.options;
    let entries: StreamEntry[] = [];
    if (this.pendingFirst) {
      entries = await this.readGroup("0", batchSize);
      if (entries.length === 0) this.pendingFirst = false;
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

  /**
   * New entries only, without blocking: used while batches are in flight, whose XACKs would
   * queue behind a blocked read on this connection.
   */
  readNew(): Promise<StreamEntry[]> {
    return this.readGroup(">", this.options.batchSize);
  }

  /**
   * XAUTOCLAIM entries another consumer took but never acknowledged; they are then ours to
   * read. Runs at most every `claimIdleInMs / 2`.
   */
  async claimAbandonedEntries(): Promise<void> {
    const now = Date.now();
    const { group, consumer, claimIdleInMs, batchSize } = this.options;
    if (now - this.lastClaimAt < claimIdleInMs / 2) return;
    this.lastClaimAt = now;
    for (const stream of this.keys.streams()) {
      let cursor = "0-0";
      do {
        const [next, claimed] = (await this.redis.xautoclaim(
          stream,
          group,
          consumer,
          claimIdleInMs,
          cursor,
          "COUNT",
          batchSize,
          "JUSTID",
        )) as [string, string[]];
        if (claimed.length > 0) {
          this.pendingFirst = true;
          this.logger.info({ stream, claimed: claimed.length }, "claimed entries of an idle consumer");
        }
        cursor = next;
      } while (cursor !== "0-0");
    }
  }

  /** XREADGROUP over every shard stream from `from` ("0": our pending ones, ">": new ones). */
  private async readGroup(from: "0" | ">", count: number, blockInMs?: number): Promise<StreamEntry[]> {
    const streams = this.keys.streams();
    const { group, consumer } = this.options;
    if (isCluster(this.redis)) {
      const read = async () =>
        (
          await Promise.all(
            streams.map((stream) => this.redis.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", stream, from)),
          )
        ).flatMap(parseReadReply);
      const entries = await read();
      if (entries.length > 0 || blockInMs === undefined) return entries;
      await sleep(Math.min(Math.max(1, blockInMs), CLUSTER_POLL_IN_MS));
      return read();
    }
    const ids = streams.map(() => from);
    const reply =
      blockInMs === undefined
        ? await this.redis.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", ...streams, ...ids)
        : await this.redis.xreadgroup(
            "GROUP",
            group,
            consumer,
            "COUNT",
            count,
            "BLOCK",
            Math.max(1, Math.round(blockInMs)),
            "STREAMS",
            ...streams,
            ...ids,
          );
    return parseReadReply(reply);
  }
}
