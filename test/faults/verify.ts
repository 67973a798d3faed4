/**
 * The check every fault test ends with: read the rooms' timelines from Cassandra row by row and
 * compare them with the acknowledged set. lost = acknowledged messages with no row (matched by
 * seq AND id); duplicates = one message (clientId) stored more than once; gaps = seqs missing
 * between 1 and the room's highest stored seq.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import type { CassandraClient } from "../../storage/cassandra/client.js";
import { RedisKeys } from "../../storage/keys.js";
import type { SendAck } from "./known-set.js";
import { eventually } from "../fixture.js";

export interface StoredRow {
  room: string;
  seq: number;
  id: string;
  clientId: string;
}

export interface Tally {
  acknowledged: number;
  rows: number;
  lost: number;
  duplicates: number;
  gaps: number;
  /** Acks whose (seq, id) differ from the row stored for that clientId. */
  mismatched: number;
}

export async function readRooms(cassandra: CassandraClient, rooms: string[], consistency?: number): Promise<StoredRow[]> {
  const rows: StoredRow[] = [];
  for (const room of rooms) {
    const buckets = await cassandra.execute("SELECT bucket FROM room_buckets WHERE room = ?", [room], { prepare: true, consistency });
    for (const bucketRow of buckets.rows) {
      // eachRow-style paging: every row of the partition, not just the first page.
      let pageState: string | undefined;
      do {
        const page = await cassandra.execute(
          "SELECT room, seq, id, client_id FROM messages_by_room WHERE room = ? AND bucket = ?",
          [room, bucketRow["bucket"]],
          { prepare: true, fetchSize: 1000, pageState, consistency },
        );
        for (const row of page.rows)
          rows.push({
            room: row["room"] as string,
            seq: Number(row["seq"]),
            id: row["id"] as string,
            clientId: row["client_id"] as string,
          });
        pageState = page.pageState ?? undefined;
      } while (pageState);
    }
  }
  return rows;
}

export function tally(acks: SendAck[], rows: StoredRow[]): Tally {
  const byClientId = new Map<string, StoredRow[]>();
  const seqsByRoom = new Map<string, Set<number>>();
  for (const row of rows) {
    byClientId.set(row.clientId, [...(byClientId.get(row.clientId) ?? []), row]);
    const seqs = seqsByRoom.get(row.room) ?? new Set<number>();
    seqs.add(row.seq);
    seqsByRoom.set(row.room, seqs);
  }
  let lost = 0;
  let mismatched = 0;
  for (const ack of acks) {
    const stored = byClientId.get(ack.clientId) ?? [];
    if (!stored.some((row) => row.room === ack.room && row.seq === ack.seq && row.id === ack.id)) {
      if (stored.length === 0) lost++;
      else mismatched++;
    }
  }
  let duplicates = 0;
  for (const stored of byClientId.values()) duplicates += stored.length - 1;
  let gaps = 0;
  for (const seqs of seqsByRoom.values()) {
    const highest = Math.max(...seqs);
    for (let seq = 1; seq <= highest; seq++) if (!seqs.has(seq)) gaps++;
  }
  return { acknowledged: acks.length, rows: rows.length, lost, duplicates, gaps, mismatched };
}

/** Asserts lost = 0, duplicates = 0, no gaps, and that every acknowledged message has its row. */
export function assertNothingLost(acks: SendAck[], rows: StoredRow[], expectedCount: number): Tally {
  const result = tally(acks, rows);
  console.log(`# tally ${JSON.stringify(result)}`);
  // Each clientId acknowledged exactly once by this test's sender.
  assert.equal(new Set(acks.map((ack) => ack.clientId)).size, expectedCount, "every message of the known set was acknowledged once");
  assert.deepEqual(
    { lost: result.lost, duplicates: result.duplicates, gaps: result.gaps, mismatched: result.mismatched, rows: result.rows },
    { lost: 0, duplicates: 0, gaps: 0, mismatched: 0, rows: expectedCount },
  );
  return result;
}

/** Waits until the flusher has written and acknowledged everything: streams empty, nothing pending. */
export async function waitForDrain(redis: Redis, prefix: string, shards: number, timeoutInMs: number): Promise<number> {
  const started = Date.now();
  await eventually(
    "write-buffer streams drained",
    async () => {
      let left = 0;
      for (const stream of new RedisKeys(prefix, shards).streams()) left += await redis.xlen(stream);
      return left === 0 ? true : undefined;
    },
    timeoutInMs,
  );
  return (Date.now() - started) / 1000;
}

/** Entries in the write buffer, over all shards. */
export async function backlog(redis: Redis, prefix: string, shards: number): Promise<number> {
  let left = 0;
  for (const stream of new RedisKeys(prefix, shards).streams()) left += await redis.xlen(stream);
  return left;
}
