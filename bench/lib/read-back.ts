/**
 * Reads the rows of a flush run back from Cassandra, row by row: a rows/s figure stands only
 * when every (room, seq) that was buffered is in messages_by_room with the id it was given, and
 * the dead-letter stream took nothing. Timing the drain of the Redis streams alone would count a
 * dropped or dead-lettered entry as flushed.
 */
import type { Redis } from "ioredis";
import type { RedisKeys } from "../../storage/keys.js";
import type { CassandraClient } from "../../storage/cassandra/client.js";
import { bigintToNumber } from "../../storage/cassandra/values.js";
import { bucketOf } from "../../storage/message.js";
import { CHECKS, FigureRefused } from "./integrity.js";

/** What a row must be: its room, seq and message id, and its ts (which picks its bucket). */
export interface ExpectedRow {
  room: string;
  seq: number;
  id: string;
  ts: number;
}

export interface ReadBack {
  expected: number;
  /** Expected (room, seq) present with the expected id. */
  found: number;
  /** Expected (room, seq) absent. */
  missing: number;
  /** Expected (room, seq) present with another message's id. */
  wrongId: number;
  /** Rows in the read partitions that were not expected. */
  unexpected: number;
  /** A few of the misses, "room/seq", for the error message. */
  examples: string[];
}

/** Compares the rows found, room → seq → id, with the expected ones. */
export function compareRows(expected: readonly ExpectedRow[], found: ReadonlyMap<string, ReadonlyMap<number, string>>): ReadBack {
  const result: ReadBack = { expected: expected.length, found: 0, missing: 0, wrongId: 0, unexpected: 0, examples: [] };
  const wanted = new Map<string, Set<number>>();
  for (const row of expected) {
    const seqs = wanted.get(row.room) ?? new Set<number>();
    wanted.set(row.room, seqs.add(row.seq));
    const id = found.get(row.room)?.get(row.seq);
    if (id === row.id) result.found++;
    else {
      if (id === undefined) result.missing++;
      else result.wrongId++;
      if (result.examples.length < 5) result.examples.push(`${row.room}/${row.seq}${id === undefined ? "" : " (other id)"}`);
    }
  }
  for (const [room, seqs] of found) for (const seq of seqs.keys()) if (!wanted.get(room)?.has(seq)) result.unexpected++;
  return result;
}

/** Reads every partition (room, bucket) the expected rows fall in; `room → seq → id`. */
export async function readRows(
  client: CassandraClient,
  expected: readonly ExpectedRow[],
  bucketWidthInMs: number,
): Promise<Map<string, Map<number, string>>> {
  const partitions = new Map<string, { room: string; bucket: number }>();
  for (const row of expected) {
    const bucket = bucketOf(row.ts, bucketWidthInMs);
    partitions.set(`${row.room}\u0000${bucket}`, { room: row.room, bucket });
  }
  const found = new Map<string, Map<number, string>>();
  for (const { room, bucket } of partitions.values()) {
    const rows = found.get(room) ?? new Map<number, string>();
    found.set(room, rows);
    // The result set pages itself when iterated asynchronously.
    const result = await client.execute("SELECT seq, id FROM messages_by_room WHERE room = ? AND bucket = ?", [room, bucket], {
      prepare: true,
      fetchSize: 5000,
    });
    for await (const row of result) rows.set(bigintToNumber(row["seq"]), row["id"] as string);
  }
  return found;
}

export async function readBack(client: CassandraClient, expected: readonly ExpectedRow[], bucketWidthInMs: number): Promise<ReadBack> {
  return compareRows(expected, await readRows(client, expected, bucketWidthInMs));
}

/** Every expected row read back as written, none unexpected, and `deadLettered` entries 0. */
export function requireAllRowsStored(where: string, readBackResult: ReadBack, deadLettered: number): void {
  const r = readBackResult;
  const rows = `${r.found} of ${r.expected} rows read back (${r.missing} missing, ${r.wrongId} with another id, ${r.unexpected} unexpected${r.examples.length > 0 ? `; e.g. ${r.examples.join(", ")}` : ""})`;
  if (deadLettered > 0) throw new FigureRefused(CHECKS.deadLetter, where, `${deadLettered} entries in the dead-letter stream; ${rows}`);
  if (r.expected === 0 || r.found !== r.expected || r.unexpected > 0) throw new FigureRefused(CHECKS.rows, where, rows);
}

/** Entries dead-lettered on every shard stream (each shard stream has its own dead-letter stream). */
export async function deadLetterCount(redis: Pick<Redis, "xlen">, keys: RedisKeys): Promise<number> {
  let count = 0;
  for (const stream of keys.streams()) count += await redis.xlen(keys.deadLetterStreamOf(stream));
  return count;
}
