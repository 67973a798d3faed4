/**
 * The flusher's Redis side of finishing entries: acknowledging those Cassandra confirmed,
 * counting the failures of those it rejected, and moving those that can never be written to
 * the dead-letter stream. Each is one MULTI per shard stream (a MULTI may not span hash slots on
 * Redis Cluster; a stream, its failure counts, its dead letters and its rooms' recent history
 * share the shard's slot), so an entry is never half done with.
 */
import type { Logger } from "../../common/logger.js";
import { traceFields } from "../../common/trace-id.js";
import type { RedisKeys } from "../keys.js";
import { isChange, type LogEntry } from "../change.js";
import { ChangeKeys } from "../change-keys.js";
import type { RedisClient } from "../redis-client.js";
import { traceFieldArgs, type StreamEntry } from "../stream/entries.js";
import type { FlusherEvents, FlusherOptions } from "./options.js";

/** A stream entry and the log entry (a message or a change) it decoded to. */
export interface DecodedEntry {
  entry: StreamEntry;
  message: LogEntry;
  /** A reaction that changed nothing when it was made (storage/change.ts). */
  noop?: boolean;
}

/** An entry that can never be written, and why. */
export interface Poison {
  entry: StreamEntry;
  error: string;
}

export class Acknowledger {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly options: Pick<FlusherOptions, "group" | "recentKeepPerRoom" | "receiptWindowInMs">,
    private readonly logger: Logger,
    private readonly events: Pick<FlusherEvents, "deadLettered">,
  ) {}

  /**
   * XACK + XDEL the flushed entries, trim recent-history zsets to what readers still want, and
   * shorten the entries' idempotency receipts to the receipt window: Cassandra holds them now
   * (storage/cassandra/receipts.ts), and the caller only acknowledges after that write succeeded.
   */
  async acknowledge(flushed: DecodedEntry[]): Promise<void> {
    const byStream = new Map<string, { ids: string[]; receipts: string[]; newestSeqByRoom: Map<string, number> }>();
    const changeKeys = new ChangeKeys(this.keys);
    for (const { entry, message } of flushed) {
      let shard = byStream.get(entry.stream);
      if (!shard) byStream.set(entry.stream, (shard = { ids: [], receipts: [], newestSeqByRoom: new Map() }));
      shard.ids.push(entry.id);
      // In the room's slot, so in this shard's MULTI (storage/keys.ts).
      shard.receipts.push(
        isChange(message)
          ? changeKeys.idempotency(message.by, message.room, message.clientId)
          : this.keys.idempotency(message.from, message.room, message.clientId),
      );
      shard.newestSeqByRoom.set(message.room, Math.max(message.seq, shard.newestSeqByRoom.get(message.room) ?? 0));
    }
    // One MULTI per shard stream: an entry acknowledged but not deleted would count against the
    // buffer cap forever. The shards' MULTIs go out together.
    const results = await Promise.all(
      [...byStream].map(([stream, { ids, receipts, newestSeqByRoom }]) => {
        const multi = this.redis.multi();
        multi.xack(stream, this.options.group, ...ids);
        multi.xdel(stream, ...ids);
        // Failure counts of entries that failed before and were written now.
        multi.hdel(this.keys.flushFailures(stream), ...ids);
        for (const [room, newestSeq] of newestSeqByRoom) {
          // Only flushed seqs are trimmed: everything at or below newestSeq of this room is in Cassandra
          // (a room lives in one shard, read in order) except entries a dead consumer still held,
          // which are claimed and rewritten; readers fall back to Cassandra for any seq Redis lacks.
          multi.zremrangebyscore(this.keys.roomRecent(room), "-inf", newestSeq - this.options.recentKeepPerRoom);
          // The room's recent changes go with its recent messages: readers count both to know Redis is complete.
          multi.zremrangebyscore(changeKeys.roomChanges(room), "-inf", newestSeq - this.options.recentKeepPerRoom);
        }
        // LT: only ever shortens (a receipt whose idempotency TTL ends sooner keeps it); a receipt
        // already gone is left gone. The one receipt this can shorten wrongly is a newer send's
        // with the same clientId after the first entry waited unflushed past the whole TTL.
        for (const receipt of receipts) multi.pexpire(receipt, this.options.receiptWindowInMs, "LT");
        return multi.exec();
      }),
    );
    for (const result of results) throwOnFailure(result);
  }

  /** Counts one more failure of the entry's own; resolves with its failures so far. */
  countFailure(entry: StreamEntry): Promise<number> {
    return this.redis.hincrby(this.keys.flushFailures(entry.stream), entry.id, 1);
  }

  /**
   * Moves entries that can never be written to the dead-letter stream, with the reason, and
   * takes them out of the buffer in the same MULTI: an entry is in exactly one of the two.
   * The dead letter keeps the entry's correlation id (field "t"), and each one gets an error
   * line of its own with it as `trace.id`, so that a search for the client action finds it.
   */
  async deadLetter(poison: Poison[]): Promise<void> {
    const byStream = new Map<string, Poison[]>();
    for (const item of poison) byStream.set(item.entry.stream, [...(byStream.get(item.entry.stream) ?? []), item]);
    const results = await Promise.all(
      [...byStream].map(([stream, items]) => {
        const multi = this.redis.multi();
        for (const { entry, error } of items) {
          multi.xadd(
            this.keys.deadLetterStreamOf(stream),
            "*",
            "stream",
            entry.stream,
            "entry",
            entry.id,
            "error",
            error,
            "m",
            entry.payload ?? "",
            ...traceFieldArgs(entry.traceId),
          );
          multi.xack(entry.stream, this.options.group, entry.id);
          multi.xdel(entry.stream, entry.id);
          multi.hdel(this.keys.flushFailures(entry.stream), entry.id);
        }
        return multi.exec();
      }),
    );
    for (const result of results) throwOnFailure(result);
    this.events.deadLettered(poison.length);
    // Dead letters are rare (each needs an operator), so a line each is affordable.
    for (const { entry, error } of poison) {
      this.logger.error(
        { stream: entry.stream, id: entry.id, "error.message": error, ...traceFields(entry.traceId) },
        "entry moved to the dead-letter stream",
      );
    }
  }
}

function throwOnFailure(results: [Error | null, unknown][] | null): void {
  const failure = results?.find(([error]) => error);
  if (failure) throw failure[0];
  if (results === null) throw new Error("Redis transaction aborted");
}
