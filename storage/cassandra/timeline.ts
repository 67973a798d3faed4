/**
 * A room's timeline in Cassandra: writes from the flusher, range reads for history and
 * recovery. Partitions are (room, bucket) with bucket = floor(ts / bucketWidth); since ts is
 * monotonic in seq within a room, so is bucket, which lets readers binary-search the bucket
 * list for the partition that holds a given seq.
 */
import cassandra from "cassandra-driver";
import { isChange, tombstoneOf, type LogEntry, type MessageView } from "../change.js";
import { DEFAULT_STREAM_CONFIG } from "../config.js";
import { bucketOf, type ChatMessage } from "../message.js";
import type { CassandraClient } from "./client.js";
import { bucketListRow, roomBucketPartition, roomPartition, userPartition } from "./partitions.js";
import { LogProjection, logWriteTime, type ProjectedEntry, type Statement } from "./projection.js";
import { receiptStatements } from "./receipts.js";
import { bigintToNumber } from "./values.js";

const Q = {
  // The message's log write time (projection.ts): a later change to it always wins.
  insertMessage: `INSERT INTO messages_by_room (room, bucket, seq, id, sender, client_id, body, meta, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
  insertUserIndex: `INSERT INTO messages_by_user (user_id, id, room, seq, bucket, ts) VALUES (?, ?, ?, ?, ?, ?)`,
  insertBucket: `INSERT INTO room_buckets (room, bucket) VALUES (?, ?)`,
  bucketsOfRoom: `SELECT bucket FROM room_buckets WHERE room = ?`,
  firstSeqOfBucket: `SELECT seq FROM messages_by_room WHERE room = ? AND bucket = ? ORDER BY seq ASC LIMIT 1`,
  newestOfBucket: `SELECT seq, ts FROM messages_by_room WHERE room = ? AND bucket = ? LIMIT 1`,
  idsInRange: `SELECT seq, id FROM messages_by_room WHERE room = ? AND bucket = ? AND seq >= ? AND seq <= ?`,
  before: `SELECT room, seq, id, sender, client_id, body, meta, ts, edited_at, deleted, reacted FROM messages_by_room WHERE room = ? AND bucket = ? AND seq < ? LIMIT ?`,
  after: `SELECT room, seq, id, sender, client_id, body, meta, ts, edited_at, deleted, reacted FROM messages_by_room WHERE room = ? AND bucket = ? AND seq > ? ORDER BY seq ASC LIMIT ?`,
} as const;

/**
 * How a batch of messages goes to Cassandra (bench/flush.ts measures both on a real node):
 * - "concurrent": one prepared INSERT per row, at most `concurrency` in flight;
 * - "partition-batches": rows grouped by partition, one UNLOGGED batch per partition (no batch
 *   log, one mutation per replica set), the batches run with the same bounded concurrency.
 */
export const WRITE_STRATEGIES = ["concurrent", "partition-batches"] as const;
export type WriteStrategy = (typeof WRITE_STRATEGIES)[number];

export interface TimelineWriteOptions {
  strategy: WriteStrategy;
  /** Statements (or batches) in flight at once. */
  concurrency: number;
}

/**
 * The default, chosen by measurement (bench/flush.ts, see docs/durability.md "Batch strategy").
 * Kept here, beside the strategies, so the flusher and the benchmark agree.
 */
export const DEFAULT_WRITE_OPTIONS: TimelineWriteOptions = { strategy: "partition-batches", concurrency: 32 };

/** A message row of the read model: its current state, and whether it has reaction rows to read. */
export type StoredMessage = MessageView & { reacted?: true };

/**
 * A message whose seq is already stored for another message: only possible after a Redis lost
 * acknowledged state and handed the seq out again (docs/durability.md, "No seq reused"). The
 * stored row is kept. It extends RangeError so that the flusher counts it as a failure of the
 * entry itself (storage/flusher/errors.ts), writes the rest of the batch one by one, and
 * dead-letters the entry with this error after its retries instead of overwriting the row or
 * stalling the shard as an outage would.
 */
export class SeqConflictError extends RangeError {
  override name = "SeqConflictError";
  constructor(readonly conflicts: { room: string; seq: number; storedId: string; newId: string }[]) {
    super(
      `seq already stored for another message: ${conflicts.map((c) => `room ${c.room} seq ${c.seq} holds ${c.storedId}, not ${c.newId}`).join("; ")}`,
    );
  }
}

/** Rows per UNLOGGED batch: single-partition batches have no batch-size cap, but huge ones stall a replica. */
const MAX_ROWS_PER_BATCH = 100;

/**
 * How many bucket-list rows (room_buckets, log_buckets) a Timeline remembers as written. A room's
 * bucket changes once per bucket width (a day by default), so this holds the active rooms of a
 * flusher many times over; past it the memory starts again, and the rows are written once more.
 */
const MAX_KNOWN_BUCKET_ROWS = 100_000;

export class Timeline {
  /** Shared by the calls of write() without options: see write(). */
  private readonly window: Window;
  private readonly projection: LogProjection;
  /**
   * Bucket-list rows this Timeline wrote successfully (Statement.bucketRow). Each message used to
   * write its room's bucket rows again (one request each per room and batch); they never change
   * once written (no TTL, a replay drops only the read model's messages), so once is enough.
   */
  private readonly knownBucketRows = new Set<string>();

  constructor(
    private readonly client: CassandraClient,
    private readonly bucketWidthInMs: number,
    private readonly writeOptions: TimelineWriteOptions = DEFAULT_WRITE_OPTIONS,
    /**
     * CHAT_IDEMPOTENCY_TTL_MS: every entry's receipt row (receipts.ts) is written with the
     * entry's rows and lives this long after the entry's ts.
     */
    private readonly receiptTtlInMs: number = DEFAULT_STREAM_CONFIG.idempotencyTtlInMs,
  ) {
    this.window = new Window(writeOptions.concurrency);
    this.projection = new LogProjection(bucketWidthInMs);
  }

  /**
   * Writes messages idempotently: every statement is an upsert keyed by (room, bucket, seq),
   * (user, id) or (room, bucket), so a retried batch, or an entry written twice by two
   * flushers, leaves exactly one row. Rejects if any row failed; rows that succeeded stay.
   *
   * Without `options`, the Timeline's own strategy is used and every such call shares one
   * window of `concurrency` statements in flight (first come, first served): a flusher that
   * hands over its next batch while the last one is still being written keeps the driver's
   * window full across the batch boundary without ever exceeding it. With explicit `options`
   * (the benchmarks), the call gets a window of its own.
   */
  async write(entries: readonly (LogEntry | ProjectedEntry)[], options?: TimelineWriteOptions): Promise<void> {
    if (entries.length === 0) return;
    // Changes come from the flusher with their noop mark; messages may come bare.
    const projected = entries.map((entry): ProjectedEntry => ("entry" in entry ? entry : { entry, noop: false }));
    const messages = projected.flatMap(({ entry }) => (isChange(entry) ? [] : [entry]));
    if (messages.length > 0) await this.refuseSeqConflicts(messages);
    // The receipts go in the same write: the flusher shortens Redis's copies only once it succeeded.
    const statements = [
      ...this.statementsOf(messages),
      ...this.projection.statementsOf(projected),
      ...receiptStatements(
        projected.map(({ entry }) => entry),
        this.receiptTtlInMs,
        Date.now(),
      ),
    ].filter((statement) => statement.bucketRow === undefined || !this.knownBucketRows.has(statement.bucketRow));
    await this.execute(statements, options);
    // Only once the whole write succeeded: a bucket row that may have failed is written again next time.
    for (const { bucketRow } of statements) if (bucketRow !== undefined) this.rememberBucketRow(bucketRow);
  }

  private async execute(statements: Statement[], options: TimelineWriteOptions | undefined): Promise<void> {
    if (options === undefined) {
      await this.writeInSharedWindow(statements);
      return;
    }
    if (options.strategy === "concurrent") {
      await cassandra.concurrent.executeConcurrent(this.client, statements, {
        concurrencyLevel: options.concurrency,
        raiseOnFirstError: true,
      });
      return;
    }
    await runBounded(groupIntoBatches(statements), options.concurrency, (batch) => this.executeBatch(batch));
  }

  private rememberBucketRow(bucketRow: string): void {
    if (this.knownBucketRows.size >= MAX_KNOWN_BUCKET_ROWS) this.knownBucketRows.clear();
    this.knownBucketRows.add(bucketRow);
  }

  /**
   * The guard that no row is ever overwritten by another message: one range read per (room,
   * bucket) of the batch for the ids already stored at its seqs. Normally it finds nothing (new
   * seqs) or the same ids (an entry written again after a flusher died before XACK); a
   * different id means the seq was handed out twice, and nothing of the batch is written.
   */
  private async refuseSeqConflicts(messages: readonly ChatMessage[]): Promise<void> {
    const byPartition = new Map<string, { room: string; bucket: number; bySeq: Map<number, ChatMessage> }>();
    for (const message of messages) {
      const bucket = bucketOf(message.ts, this.bucketWidthInMs);
      const key = `${bucket}|${message.room}`;
      let partition = byPartition.get(key);
      if (!partition) byPartition.set(key, (partition = { room: message.room, bucket, bySeq: new Map() }));
      partition.bySeq.set(message.seq, message);
    }
    const conflicts: SeqConflictError["conflicts"] = [];
    await runAllIn(this.window, [...byPartition.values()], async ({ room, bucket, bySeq }) => {
      const seqs = [...bySeq.keys()];
      const rows = await this.client.execute(Q.idsInRange, [room, bucket, Math.min(...seqs), Math.max(...seqs)], {
        prepare: true,
        fetchSize: 10_000,
      });
      for (const row of rows.rows) {
        const seq = bigintToNumber(row["seq"]);
        const incoming = bySeq.get(seq);
        // A row without an id holds no other message: a change's projection (an UPDATE of its
        // target's current state) landed before the target's own insert, as batches in flight can.
        if (incoming && row["id"] != null && incoming.id !== row["id"]) {
          conflicts.push({ room, seq, storedId: row["id"] as string, newId: incoming.id });
        }
      }
    });
    if (conflicts.length > 0) throw new SeqConflictError(conflicts);
  }

  /** Queues every request in the shared window; rejects with the first error once all settled. */
  private writeInSharedWindow(statements: Statement[]): Promise<void> {
    const requests =
      this.writeOptions.strategy === "concurrent" ? statements.map((statement) => [statement]) : groupIntoBatches(statements);
    return runAllIn(this.window, requests, (batch) => this.executeBatch(batch));
  }

  /** One request: a lone statement, or an UNLOGGED batch of one partition's statements. */
  private executeBatch(batch: readonly Statement[]): Promise<unknown> {
    return batch.length === 1
      ? this.client.execute(batch[0]!.query, batch[0]!.params, { prepare: true, isIdempotent: true })
      : this.client.batch(
          batch.map(({ query, params }) => ({ query, params })),
          { prepare: true, logged: false, isIdempotent: true },
        );
  }

  private statementsOf(messages: readonly ChatMessage[]): Statement[] {
    const statements: Statement[] = [];
    const buckets = new Set<string>();
    for (const m of messages) {
      const bucket = bucketOf(m.ts, this.bucketWidthInMs);
      const ts = new Date(m.ts);
      statements.push({
        query: Q.insertMessage,
        params: [
          m.room,
          bucket,
          m.seq,
          m.id,
          m.from,
          m.clientId,
          m.text,
          m.meta === undefined ? null : JSON.stringify(m.meta),
          ts,
          logWriteTime(m.seq),
        ],
        partition: roomBucketPartition(m.room, bucket),
      });
      statements.push({ query: Q.insertUserIndex, params: [m.from, m.id, m.room, m.seq, bucket, ts], partition: userPartition(m.from) });
      const bucketKey = `${bucket}|${m.room}`;
      if (!buckets.has(bucketKey)) {
        buckets.add(bucketKey);
        statements.push({
          query: Q.insertBucket,
          params: [m.room, bucket],
          partition: roomPartition(m.room),
          bucketRow: bucketListRow("room_buckets", m.room, bucket),
        });
      }
    }
    return statements;
  }

  /** The room's newest stored seq and ts; {0, 0} for a room with no stored messages. */
  async latestOf(room: string): Promise<{ seq: number; ts: number }> {
    const [newest] = await this.buckets(room);
    if (newest === undefined) return { seq: 0, ts: 0 };
    const row = (await this.client.execute(Q.newestOfBucket, [room, newest])).first();
    return row ? { seq: bigintToNumber(row["seq"]), ts: (row["ts"] as Date).getTime() } : { seq: 0, ts: 0 };
  }

  /** Up to `limit` messages with seq < beforeSeq, newest first. */
  async before(room: string, beforeSeq: number, limit: number): Promise<StoredMessage[]> {
    const buckets = await this.buckets(room);
    // The newest bucket whose first seq is below beforeSeq holds the first row we want.
    let index = await this.firstBucketIndex(room, buckets, (firstSeq) => firstSeq < beforeSeq);
    const out: StoredMessage[] = [];
    for (; index < buckets.length && out.length < limit; index++) {
      const rows = await this.client.execute(Q.before, [room, buckets[index], beforeSeq, limit - out.length]);
      for (const row of rows.rows) out.push(toMessage(row));
    }
    return out;
  }

  /** Up to `limit` messages with seq > afterSeq, oldest first. */
  async after(room: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    const buckets = await this.buckets(room);
    // The newest bucket whose first seq is at or below afterSeq + 1 holds seq afterSeq + 1.
    let index = await this.firstBucketIndex(room, buckets, (firstSeq) => firstSeq <= afterSeq + 1);
    if (index === buckets.length) index = buckets.length - 1;
    const out: StoredMessage[] = [];
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
      if (row && accept(bigintToNumber(row["seq"]))) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}

/** Statements grouped by partition, each group cut into batches of at most MAX_ROWS_PER_BATCH. */
function groupIntoBatches(statements: readonly Statement[]): Statement[][] {
  const byPartition = new Map<string, Statement[]>();
  for (const statement of statements) {
    const group = byPartition.get(statement.partition);
    if (group) group.push(statement);
    else byPartition.set(statement.partition, [statement]);
  }
  const batches: Statement[][] = [];
  for (const group of byPartition.values()) {
    for (let i = 0; i < group.length; i += MAX_ROWS_PER_BATCH) batches.push(group.slice(i, i + MAX_ROWS_PER_BATCH));
  }
  return batches;
}

/** Runs `work` on every item with at most `limit` in flight; rejects with the first error once all settled. */
function runBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  return runAllIn(new Window(limit), items, work);
}

/** Queues `work` for every item in `window`; rejects with the first error once all settled. */
async function runAllIn<T>(window: Window, items: readonly T[], work: (item: T) => Promise<unknown>): Promise<void> {
  const results = await Promise.allSettled(items.map((item) => window.run(() => work(item))));
  const failure = results.find((result) => result.status === "rejected");
  if (failure) throw failure.reason;
}

/** At most `limit` tasks running at once; the others wait their turn in arrival order. */
export class Window {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    // The finishing task hands its slot over directly, so `running` stays as it is.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

function toMessage(row: cassandra.types.Row): StoredMessage {
  const meta = row["meta"] as string | null;
  const message: StoredMessage = {
    id: row["id"] as string,
    room: row["room"] as string,
    seq: bigintToNumber(row["seq"]),
    from: row["sender"] as string,
    clientId: row["client_id"] as string,
    text: row["body"] as string,
    ts: (row["ts"] as Date).getTime(),
  };
  if (meta !== null) message.meta = JSON.parse(meta) as Record<string, unknown>;
  // The current state the projection wrote (projection.ts); a deleted row has no text left.
  if (row["deleted"] === true) return tombstoneOf(message);
  const editedAt = row["edited_at"] as Date | null;
  if (editedAt !== null) message.editedAt = editedAt.getTime();
  if (row["reacted"] === true) message.reacted = true;
  return message;
}
