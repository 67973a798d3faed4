/**
 * A room's timeline in Cassandra: writes from the flusher, range reads for history and
 * recovery. Partitions are (room, bucket) with bucket = floor(ts / bucketWidth); since ts is
 * monotonic in seq within a room, so is bucket, which lets readers binary-search the bucket
 * list for the partition that holds a given seq.
 */
import cassandra from "cassandra-driver";
import { bucketOf, type ChatMessage } from "../message.js";
import type { CassandraClient } from "./client.js";

const Q = {
  insertMessage: `INSERT INTO messages_by_room (room, bucket, seq, id, sender, client_id, body, meta, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  insertUserIndex: `INSERT INTO messages_by_user (user_id, id, room, seq, bucket, ts) VALUES (?, ?, ?, ?, ?, ?)`,
  insertBucket: `INSERT INTO room_buckets (room, bucket) VALUES (?, ?)`,
  bucketsOfRoom: `SELECT bucket FROM room_buckets WHERE room = ?`,
  firstSeqOfBucket: `SELECT seq FROM messages_by_room WHERE room = ? AND bucket = ? ORDER BY seq ASC LIMIT 1`,
  newestOfBucket: `SELECT seq, ts FROM messages_by_room WHERE room = ? AND bucket = ? LIMIT 1`,
  before: `SELECT room, seq, id, sender, client_id, body, meta, ts FROM messages_by_room WHERE room = ? AND bucket = ? AND seq < ? LIMIT ?`,
  after: `SELECT room, seq, id, sender, client_id, body, meta, ts FROM messages_by_room WHERE room = ? AND bucket = ? AND seq > ? ORDER BY seq ASC LIMIT ?`,
} as const;

export class Timeline {
  constructor(
    private readonly client: CassandraClient,
    private readonly bucketWidthInMs: number,
  ) {}

  /** Writes messages idempotently (upserts keyed by room, bucket, seq): a retried batch is harmless. */
  async write(messages: readonly ChatMessage[], concurrencyLevel = 64): Promise<void> {
    const statements: { query: string; params: unknown[] }[] = [];
    const buckets = new Set<string>();
    for (const m of messages) {
      const bucket = bucketOf(m.ts, this.bucketWidthInMs);
      const ts = new Date(m.ts);
      statements.push({ query: Q.insertMessage, params: [m.room, bucket, m.seq, m.id, m.from, m.clientId, m.text, m.meta === undefined ? null : JSON.stringify(m.meta), ts] });
      statements.push({ query: Q.insertUserIndex, params: [m.from, m.id, m.room, m.seq, bucket, ts] });
      const bucketKey = `${bucket}|${m.room}`;
      if (!buckets.has(bucketKey)) {
        buckets.add(bucketKey);
        statements.push({ query: Q.insertBucket, params: [m.room, bucket] });
      }
    }
    await cassandra.concurrent.executeConcurrent(this.client, statements, { concurrencyLevel, raiseOnFirstError: true });
  }

  /** The room's newest stored seq and ts; {0, 0} for a room with no stored messages. */
  async latestOf(room: string): Promise<{ seq: number; ts: number }> {
    const [newest] = await this.buckets(room);
    if (newest === undefined) return { seq: 0, ts: 0 };
    const row = (await this.client.execute(Q.newestOfBucket, [room, newest])).first();
    return row ? { seq: toNumber(row["seq"]), ts: (row["ts"] as Date).getTime() } : { seq: 0, ts: 0 };
  }

  /** Up to `limit` messages with seq < beforeSeq, newest first. */
  async before(room: string, beforeSeq: number, limit: number): Promise<ChatMessage[]> {
    const buckets = await this.buckets(room);
    // The newest bucket whose first seq is below beforeSeq holds the first row we want.
    let index = await this.firstBucketIndex(room, buckets, (firstSeq) => firstSeq < beforeSeq);
    const out: ChatMessage[] = [];
    for (; index < buckets.length && out.length < limit; index++) {
      const rows = await this.client.execute(Q.before, [room, buckets[index], beforeSeq, limit - out.length]);
      for (const row of rows.rows) out.push(toMessage(row));
    }
    return out;
  }

  /** Up to `limit` messages with seq > afterSeq, oldest first. */
  async after(room: string, afterSeq: number, limit: number): Promise<ChatMessage[]> {
    const buckets = await this.buckets(room);
    // The newest bucket whose first seq is at or below afterSeq + 1 holds seq afterSeq + 1.
    let index = await this.firstBucketIndex(room, buckets, (firstSeq) => firstSeq <= afterSeq + 1);
    if (index === buckets.length) index = buckets.length - 1;
    const out: ChatMessage[] = [];
    for (; index >= 0 && out.length < limit; index--) {
      const rows = await this.client.execute(Q.after, [room, buckets[index], afterSeq, limit - out.length]);
      for (const row of rows.rows) out.push(toMessage(row));
    }
    return out;
  }

  /** Bucket ids of the room, newest first. */
  private async buckets(room: string): Promise<number[]> {
    const result = await this.client.execute(Q.bucketsOfRoom, [room], { fetchSize: 10_000 });
    return result.rows.map((row) => row["bucket"] as number);
  }

  /**
   * Binary search over buckets (newest first, so first seqs descend) for the lowest index whose
   * first seq satisfies `accept`; buckets.length when none does.
   */
  private async firstBucketIndex(room: string, buckets: number[], accept: (firstSeq: number) => boolean): Promise<number> {
    let low = 0;
    let high = buckets.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const row = (await this.client.execute(Q.firstSeqOfBucket, [room, buckets[middle]])).first();
      // An empty bucket (never expected: buckets are recorded with their messages) is skipped as older.
      if (row && accept(toNumber(row["seq"]))) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}

function toNumber(value: unknown): number {
  return typeof value === "number" ? value : (value as cassandra.types.Long).toNumber();
}

function toMessage(row: cassandra.types.Row): ChatMessage {
  const meta = row["meta"] as string | null;
  const message: ChatMessage = {
    id: row["id"] as string,
    room: row["room"] as string,
    seq: toNumber(row["seq"]),
    from: row["sender"] as string,
    clientId: row["client_id"] as string,
    text: row["body"] as string,
    ts: (row["ts"] as Date).getTime(),
  };
  if (meta !== null) message.meta = JSON.parse(meta) as Record<string, unknown>;
  return message;
}
