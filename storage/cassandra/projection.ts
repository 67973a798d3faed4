/**
 * The projection of a room's log onto Cassandra: every entry is stored in `room_log` (the log
 * itself), and each change is applied to the read model (`messages_by_room`'s current state,
 * `edit_texts`, `reactions_by_message`). The flusher and the replay command (replay.ts) run
 * the same statements.
 *
 * Entries arrive at least once and not necessarily in order (a dead flusher's entries are
 * claimed later). So every write carries its entry's seq as its write time (`USING TIMESTAMP
 * logWriteTime(seq)`): whatever the order, the cell written by the later entry of the log wins,
 * and writing an entry again changes nothing. A delete erases with the same rule: its cells and
 * partition deletions shadow every write of an earlier entry, also one that arrives after it
 * (a replayed message or edit cannot bring the text back).
 */
import { bucketOf, type ChatMessage } from "../message.js";
import { decodeMessageId, isChange, type ChatChange, type LogEntry } from "../change.js";
import { bucketListRow, messagePartition, roomBucketPartition, roomPartition } from "./partitions.js";

/**
 * Write times are microseconds; wall-clock ones (what rows written before the log carried)
 * are about 1.8e15 today. Starting above any wall-clock time of this century makes every change
 * win over such rows too. Seqs stay far below the 2^53 - 4e15 that remain.
 */
const LOG_WRITE_TIME_BASE = 4_000_000_000_000_000;
/**
 * Seqs are spaced this far apart in write time, leaving room between a room's latest seq L and
 * its next for a replay (replay.ts): the dropped read model's deletion at L's time + 1 and the
 * rebuilt rows at + 2, both above every write of the log so far and below any later entry's.
 */
const WRITE_TIME_STEP = 4;

export function logWriteTime(seq: number): number {
  return LOG_WRITE_TIME_BASE + seq * WRITE_TIME_STEP;
}

/** When a replay up to `latestSeq` drops a room's read model: above every write of the log so far. */
export function dropWriteTime(latestSeq: number): number {
  return logWriteTime(latestSeq) + 1;
}

/** When a replay up to `latestSeq` writes the rebuilt rows: above the drop, below the next entry's writes. */
export function rebuildWriteTime(latestSeq: number): number {
  return logWriteTime(latestSeq) + 2;
}

export interface Statement {
  query: string;
  params: unknown[];
  /** The partition key's value the row belongs to (partitions.ts), for grouping into single-partition batches. */
  partition: string;
  /**
   * Set on a bucket-list row (room_buckets, log_buckets): what it records (partitions.ts bucketListRow).
   * Such a row never changes once written, so a writer that saw it succeed may leave it out
   * (timeline.ts).
   */
  bucketRow?: string;
}

const Q = {
  logEntry: `INSERT INTO room_log (room, bucket, seq, kind, id, sender, client_id, body, meta, ts, target, target_seq, emoji, react_on, noop) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
  logBucket: `INSERT INTO log_buckets (room, bucket) VALUES (?, ?)`,
  editMessage: `UPDATE messages_by_room USING TIMESTAMP ? SET body = ?, edited_at = ? WHERE room = ? AND bucket = ? AND seq = ?`,
  editText: `INSERT INTO edit_texts (room, message_id, seq, body) VALUES (?, ?, ?, ?) USING TIMESTAMP ?`,
  deleteMessage: `UPDATE messages_by_room USING TIMESTAMP ? SET body = '', meta = null, edited_at = null, deleted = true WHERE room = ? AND bucket = ? AND seq = ?`,
  eraseLogEntry: `UPDATE room_log USING TIMESTAMP ? SET body = null, meta = null, erased = true WHERE room = ? AND bucket = ? AND seq = ?`,
  eraseEditTexts: `DELETE FROM edit_texts USING TIMESTAMP ? WHERE room = ? AND message_id = ?`,
  eraseReactions: `DELETE FROM reactions_by_message USING TIMESTAMP ? WHERE room = ? AND message_id = ?`,
  addReaction: `INSERT INTO reactions_by_message (room, message_id, emoji, user_id, seq) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?`,
  markReacted: `UPDATE messages_by_room USING TIMESTAMP ? SET reacted = true WHERE room = ? AND bucket = ? AND seq = ?`,
  removeReaction: `DELETE FROM reactions_by_message USING TIMESTAMP ? WHERE room = ? AND message_id = ? AND emoji = ? AND user_id = ?`,
} as const;

/** A log entry to project: `noop` marks a reaction that changed nothing when it was made. */
export interface ProjectedEntry {
  entry: LogEntry;
  noop: boolean;
}

export class LogProjection {
  constructor(private readonly bucketWidthInMs: number) {}

  /**
   * The log rows of every entry and the read-model writes of the changes. A message's own
   * read-model row is the Timeline's (timeline.ts), written with the same write-time rule.
   */
  statementsOf(entries: readonly ProjectedEntry[]): Statement[] {
    const statements: Statement[] = [];
    const buckets = new Set<string>();
    for (const { entry, noop } of entries) {
      const bucket = bucketOf(entry.ts, this.bucketWidthInMs);
      statements.push(this.logRow(entry, bucket, noop));
      const bucketKey = `${bucket}|${entry.room}`;
      if (!buckets.has(bucketKey)) {
        buckets.add(bucketKey);
        statements.push({
          query: Q.logBucket,
          params: [entry.room, bucket],
          partition: roomPartition(entry.room),
          bucketRow: bucketListRow("log_buckets", entry.room, bucket),
        });
      }
      if (isChange(entry) && !noop) statements.push(...this.changeStatements(entry));
    }
    return statements;
  }

  private logRow(entry: LogEntry, bucket: number, noop: boolean): Statement {
    const time = logWriteTime(entry.seq);
    const partition = roomBucketPartition(entry.room, bucket);
    if (!isChange(entry)) {
      const m: ChatMessage = entry;
      const meta = m.meta === undefined ? undefined : JSON.stringify(m.meta);
      return {
        query: Q.logEntry,
        params: [
          m.room,
          bucket,
          m.seq,
          "message",
          m.id,
          m.from,
          m.clientId,
          m.text,
          meta,
          new Date(m.ts),
          undefined,
          undefined,
          undefined,
          undefined,
          undefined,
          time,
        ],
        partition,
      };
    }
    const c: ChatChange = entry;
    return {
      query: Q.logEntry,
      params: [
        c.room,
        bucket,
        c.seq,
        c.kind,
        undefined,
        c.by,
        c.clientId,
        undefined,
        undefined,
        new Date(c.ts),
        c.target,
        c.targetSeq,
        c.emoji,
        c.on,
        noop || undefined,
        time,
      ],
      partition,
    };
  }

  /** The read-model writes of one change. */
  private changeStatements(change: ChatChange): Statement[] {
    const time = logWriteTime(change.seq);
    const { room, target } = change;
    const targetBucket = this.targetBucket(change);
    const targetPartition = roomBucketPartition(room, targetBucket);
    const reactionsAndEdits = messagePartition(room, target);
    const messageKey = [room, targetBucket, change.targetSeq];
    switch (change.kind) {
      case "edit":
        return [
          { query: Q.editMessage, params: [time, change.text ?? "", new Date(change.ts), ...messageKey], partition: targetPartition },
          { query: Q.editText, params: [room, target, change.seq, change.text ?? "", time], partition: reactionsAndEdits },
        ];
      case "delete":
        return [
          { query: Q.deleteMessage, params: [time, ...messageKey], partition: targetPartition },
          {
            query: Q.eraseLogEntry,
            params: [time, room, this.targetLogBucket(change), change.targetSeq],
            partition: roomBucketPartition(room, this.targetLogBucket(change)),
          },
          { query: Q.eraseEditTexts, params: [time, room, target], partition: reactionsAndEdits },
          { query: Q.eraseReactions, params: [time, room, target], partition: reactionsAndEdits },
        ];
      case "react":
        if (change.on) {
          return [
            { query: Q.addReaction, params: [room, target, change.emoji, change.by, change.seq, time], partition: reactionsAndEdits },
            { query: Q.markReacted, params: [time, ...messageKey], partition: targetPartition },
          ];
        }
        return [{ query: Q.removeReaction, params: [time, room, target, change.emoji, change.by], partition: reactionsAndEdits }];
    }
  }

  /** The target message's timeline bucket: its id carries its ts (storage/change.ts). */
  private targetBucket(change: ChatChange): number {
    const decoded = decodeMessageId(change.target);
    if (!decoded) throw new RangeError(`change ${change.seq} of room ${change.room} targets "${change.target}", which is not a message id`);
    return bucketOf(decoded.ts, this.bucketWidthInMs);
  }

  /** The target's log bucket: the same ts, so the same bucket number in room_log. */
  private targetLogBucket(change: ChatChange): number {
    return this.targetBucket(change);
  }
}
