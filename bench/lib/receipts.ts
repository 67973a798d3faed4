/**
 * Every acknowledged send kept once: an ingest figure (sends/s, ack latency) stands only when
 * each `ok` ack's message is in Cassandra with the seq and id the ack gave it, no two acks name
 * the same (room, seq) or the same id, no row of those rooms is one nobody was acknowledged for,
 * and nothing was dead-lettered. A server that acknowledged a message it then lost, stored one
 * send twice, or gave two messages one seq (the second overwriting the first) would otherwise
 * report a rate, and a cheaper one, for work it did not do.
 */
import type { Redis } from "ioredis";
import type { CassandraClient } from "../../storage/cassandra/client.js";
import { DEFAULT_STREAM_CONFIG } from "../../storage/config.js";
import type { RedisKeys } from "../../storage/keys.js";
import type { Receipt } from "../load/protocol.js";
import { CHECKS, FigureRefused } from "./integrity.js";
import { deadLetterCount, readBack, requireAllRowsStored, type ReadBack } from "./read-back.js";

/** No (room, seq) and no message id in two receipts, and at least one receipt. */
export function requireDistinctReceipts(where: string, receipts: readonly Receipt[]): void {
  if (receipts.length === 0) throw new FigureRefused(CHECKS.stored, where, "no acknowledged send to check");
  const seqs = new Map<string, string>();
  const ids = new Set<string>();
  let seqTwice = 0;
  let idTwice = 0;
  const examples: string[] = [];
  for (const receipt of receipts) {
    const key = `${receipt.room}/${receipt.seq}`;
    const earlier = seqs.get(key);
    if (earlier !== undefined) {
      seqTwice++;
      if (examples.length < 5) examples.push(`${key} acked for ${earlier === receipt.id ? "the same id twice" : "two ids"}`);
    } else seqs.set(key, receipt.id);
    if (ids.has(receipt.id)) idTwice++;
    ids.add(receipt.id);
  }
  if (seqTwice > 0 || idTwice > 0)
    throw new FigureRefused(
      CHECKS.stored,
      where,
      `${receipts.length} acks: ${seqTwice} gave a (room, seq) already acknowledged, ${idTwice} an id already acknowledged${examples.length > 0 ? `; e.g. ${examples.join(", ")}` : ""}`,
    );
}

export interface StoredOnceOptions {
  where: string;
  receipts: readonly Receipt[];
  /** Reads the receipts' rows back (lib/read-back.ts readBack, bound to a client and bucket width). */
  readBack: (receipts: readonly Receipt[]) => Promise<ReadBack>;
  /** Entries in the dead-letter streams of the run's keys. */
  deadLettered: () => Promise<number>;
  /** How long the flusher may take to write what was acknowledged. */
  timeoutInMs: number;
  pollEveryInMs?: number;
}

/**
 * Distinct receipts, then the rows read back until every one is there (the flusher writes
 * behind the acks) or `timeoutInMs` passed; refused unless every acknowledged message is stored
 * with its id, no other row is in those rooms' partitions and nothing was dead-lettered.
 * Returns the final read-back.
 */
export async function requireStoredOnce(options: StoredOnceOptions): Promise<ReadBack> {
  const { where, receipts, readBack, deadLettered, timeoutInMs, pollEveryInMs = 500 } = options;
  requireDistinctReceipts(where, receipts);
  const deadline = performance.now() + timeoutInMs;
  let result = await readBack(receipts);
  // A row with another id or an unexpected row does not go away by waiting; only missing ones may still come.
  while (result.missing > 0 && result.wrongId === 0 && result.unexpected === 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, pollEveryInMs));
    result = await readBack(receipts);
  }
  try {
    requireAllRowsStored(where, result, await deadLettered());
  } catch (error) {
    if (error instanceof FigureRefused) throw new FigureRefused(CHECKS.stored, where, `${error.check}: ${error.detail}`);
    throw error;
  }
  return result;
}

/** `storedOnce(where, receipts, redis, keys)`: requireStoredOnce against Cassandra and the dead letters of `keys`; the rows read back. */
export type StoredOnce = (where: string, receipts: readonly Receipt[], redis: Pick<Redis, "xlen">, keys: RedisKeys) => Promise<number>;

/** Reads through `client`; the flusher gets up to a minute to write what was acknowledged. */
export function storedOnceCheck(client: CassandraClient, timeoutInMs = 60_000): StoredOnce {
  return async (where, receipts, redis, keys) => {
    const result = await requireStoredOnce({
      where,
      receipts,
      readBack: (expected) => readBack(client, expected, DEFAULT_STREAM_CONFIG.bucketWidthInMs),
      deadLettered: () => deadLetterCount(redis, keys),
      timeoutInMs,
    });
    return result.found;
  };
}
