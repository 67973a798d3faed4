/**
 * Writing one batch: decode its entries, write their rows, and once the write and every
 * earlier batch are done, acknowledge it, or isolate the entries Cassandra rejects, or leave it
 * all pending behind an outage.
 */
import type { Logger } from "../../common/logger.js";
import { traceFields } from "../../common/trace-id.js";
import { SeqConflictError } from "../cassandra/timeline.js";
import { decodeLogEntry, isChange } from "../change.js";
import type { StreamEntry } from "../stream/entries.js";
import type { Acknowledger, DecodedEntry, Poison } from "./acknowledger.js";
import { isEntryError } from "./errors.js";
import type { FlusherEvents, FlusherOptions, Resequencer, RowWriter } from "./options.js";

/** What happened to a batch: entries done with (acked), and whether some must be retried. */
export interface BatchOutcome {
  /** Entries left pending because of an outage: back off before the next try. */
  outage: unknown;
  /** Entries left pending after failing for a reason of their own: retry soon. */
  retryEntries: boolean;
}

export const CLEAN: BatchOutcome = { outage: undefined, retryEntries: false };

/** The result of a batch's Cassandra write: the error, if it failed. */
interface WriteResult {
  error: unknown;
}

export class BatchWriter {
  constructor(
    private readonly rows: RowWriter,
    private readonly acknowledger: Acknowledger,
    private readonly options: Pick<FlusherOptions, "maxEntryFailures" | "group">,
    private readonly logger: Logger,
    private readonly events: Pick<FlusherEvents, "flushed">,
    /** Without one, a seq conflict is an entry failure like any other (dead-lettered in the end). */
    private readonly resequencer?: Resequencer,
  ) {}

  /**
   * Decodes the entries and starts writing them at once (before returning, so that the batches
   * of a pipeline reach Cassandra in the order they were read). The outcome settles only after
   * `earlier`'s, and never rejects: a failure is an outcome.
   */
  flush(entries: StreamEntry[], earlier: Promise<BatchOutcome>): Promise<BatchOutcome> {
    const started = process.hrtime.bigint();
    const decoded: DecodedEntry[] = [];
    const undecodable: Poison[] = [];
    for (const entry of entries) {
      try {
        // A message or a change of the room's log (storage/change.ts).
        const { entry: message, noop } = decodeLogEntry(entry.payload ?? "");
        decoded.push({ entry, message, noop });
      } catch (error) {
        undecodable.push({ entry, error: errorText(error) });
      }
    }
    const written: Promise<WriteResult> =
      decoded.length === 0
        ? Promise.resolve({ error: undefined })
        : this.rows.write(decoded.map(({ message, noop }) => ({ entry: message, noop: noop === true }))).then(
            () => ({ error: undefined }),
            (error: unknown) => ({ error: error ?? new Error("Cassandra write failed") }),
          );
    return this.finish({ decoded, undecodable, written, started, earlier });
  }

  /**
   * Settles a batch once its write and every earlier batch are done: acknowledges its entries,
   * or isolates the entries Cassandra rejects, or leaves it all pending.
   */
  private async finish(batch: {
    decoded: DecodedEntry[];
    undecodable: Poison[];
    written: Promise<WriteResult>;
    started: bigint;
    earlier: Promise<BatchOutcome>;
  }): Promise<BatchOutcome> {
    const { decoded, undecodable, started } = batch;
    try {
      const [{ error }, earlier] = await Promise.all([batch.written, batch.earlier]);
      // Behind an outage nothing is acknowledged (the recent-history trim assumes earlier seqs
      // are in Cassandra); the loop backs off and reads every pending entry again.
      if (earlier.outage !== undefined) return earlier;
      // Nothing can ever make these decodable: no point in retrying them.
      if (undecodable.length > 0) await this.acknowledger.deadLetter(undecodable);
      if (decoded.length === 0) return CLEAN;
      if (error !== undefined) {
        if (!isEntryError(error)) return { outage: error, retryEntries: false };
        this.logger.warn(
          { err: error, entries: decoded.length },
          "a batch write was rejected; writing its entries one by one to find the culprit",
        );
        return await this.flushOneByOne(decoded, started);
      }
      await this.acknowledger.acknowledge(decoded);
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
    const results = await Promise.allSettled(
      decoded.map(({ message, noop }) => this.rows.write([{ entry: message, noop: noop === true }])),
    );
    const written: DecodedEntry[] = [];
    const rejected: { item: DecodedEntry; error: unknown }[] = [];
    let outage: unknown;
    results.forEach((result, i) => {
      if (result.status === "fulfilled") written.push(decoded[i]!);
      else if (isEntryError(result.reason)) rejected.push({ item: decoded[i]!, error: result.reason });
      else outage ??= result.reason;
    });
    if (written.length > 0) {
      await this.acknowledger.acknowledge(written);
      this.events.flushed(written.length, secondsSince(started));
    }
    const poison: Poison[] = [];
    for (const { item, error } of rejected) {
      // Only a message's seq can collide with another message's stored row (changes have none there).
      if (error instanceof SeqConflictError && this.resequencer && !isChange(item.message)) {
        // An acknowledged message must not be dead-lettered for a seq Redis handed out twice:
        // it is appended again under a new seq (and flushed with a later batch).
        const renumbered = await this.resequencer.resequence(item.entry, item.message, this.options.group);
        this.logger.warn(
          {
            stream: item.entry.stream,
            id: item.entry.id,
            room: item.message.room,
            seq: item.message.seq,
            newSeq: renumbered?.seq,
            ...traceFields(item.entry.traceId),
          },
          "seq already stored for another message: the message was given a new seq",
        );
        continue;
      }
      const failures = await this.acknowledger.countFailure(item.entry);
      this.logger.warn(
        { stream: item.entry.stream, id: item.entry.id, room: item.message.room, failures, err: error, ...traceFields(item.entry.traceId) },
        "Cassandra rejected an entry",
      );
      if (failures >= this.options.maxEntryFailures) poison.push({ entry: item.entry, error: errorText(error) });
    }
    if (poison.length > 0) await this.acknowledger.deadLetter(poison);
    const renumbered = rejected.filter(
      ({ item, error }) => error instanceof SeqConflictError && this.resequencer && !isChange(item.message),
    ).length;
    return { outage, retryEntries: rejected.length - renumbered > poison.length };
  }
}

/**
 * The reason kept with a dead letter and logged. V8's JSON.parse messages quote the start of
 * the input ("Unexpected token 'h', "hello wor"... is not valid JSON"), which may be a message
 * text: it is left out (the dead letter holds the entry itself).
 */
function errorText(error: unknown): string {
  if (error instanceof SyntaxError) return "SyntaxError: the entry is not valid JSON";
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}
