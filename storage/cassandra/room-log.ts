/**
 * Reading a room's stored log and the parts of the read model the Timeline does not read:
 * entries after a seq (for `join { since }` once Redis trimmed them, and for replay), a
 * message's state to seed Redis with, reactions, and message counts for unread.
 */
import type cassandra from "cassandra-driver";
import { summarizeReactions, type ChangeKind, type ChatChange, type LogEntry, type Reaction, type ReactionSummary } from "../change.js";
import { bucketOf, type ChatMessage } from "../message.js";
import type { StoredTarget } from "../stream/change-buffer.js";
import type { CassandraClient } from "./client.js";
import type { ProjectedEntry } from "./projection.js";
import { bigintToNumber } from "./values.js";

const Q = {
  logBuckets: `SELECT bucket FROM log_buckets WHERE room = ?`,
  newestOfLogBucket: `SELECT seq, ts FROM room_log WHERE room = ? AND bucket = ? ORDER BY seq DESC LIMIT 1`,
  logRange: `SELECT seq, kind, id, sender, client_id, body, meta, ts, target, target_seq, emoji, react_on, noop, erased FROM room_log WHERE room = ? AND bucket = ? AND seq > ? AND seq <= ?`,
  editTexts: `SELECT seq, body FROM edit_texts WHERE room = ? AND message_id = ?`,
  target: `SELECT id, sender, deleted, body, edited_at FROM messages_by_room WHERE room = ? AND bucket = ? AND seq = ?`,
  reactions: `SELECT emoji, user_id, seq FROM reactions_by_message WHERE room = ? AND message_id = ?`,
  messageBuckets: `SELECT bucket FROM room_buckets WHERE room = ?`,
  messageSeqs: `SELECT seq FROM messages_by_room WHERE room = ? AND bucket = ? AND seq > ? AND seq <= ? LIMIT ?`,
  lowestMessageSeq: `SELECT seq FROM messages_by_room WHERE room = ? AND bucket = ? ORDER BY seq ASC LIMIT 1`,
} as const;

const READ = { prepare: true } as const;

export class RoomLog {
  constructor(
    private readonly client: CassandraClient,
    private readonly bucketWidthInMs: number,
  ) {}

  /** The room's newest stored log seq and its ts; {0, 0} when the log holds nothing. */
  async latestOf(room: string): Promise<{ seq: number; ts: number }> {
    const [newest] = await this.bucketsOf(Q.logBuckets, room);
    if (newest === undefined) return { seq: 0, ts: 0 };
    const row = (await this.client.execute(Q.newestOfLogBucket, [room, newest], READ)).first();
    return row ? { seq: bigintToNumber(row["seq"]), ts: (row["ts"] as Date).getTime() } : { seq: 0, ts: 0 };
  }

  /**
   * The stored entries with afterSeq < seq <= top, ascending, as clients read them: a deleted
   * message as a tombstone, an erased edit with text "". `noop` marks reactions that changed
   * nothing (replay needs it; clients do not see it).
   */
  async entries(room: string, afterSeq: number, top: number): Promise<ProjectedEntry[]> {
    if (top <= afterSeq) return [];
    const wanted = top - afterSeq;
    const rows: cassandra.types.Row[] = [];
    // Newest bucket first; seqs are gap-free in the stored log, so the walk stops once it has them all.
    for (const bucket of await this.bucketsOf(Q.logBuckets, room)) {
      const result = await this.client.execute(Q.logRange, [room, bucket, afterSeq, top], { ...READ, fetchSize: 10_000 });
      rows.push(...result.rows);
      if (rows.length >= wanted) break;
    }
    rows.sort((a, b) => bigintToNumber(a["seq"]) - bigintToNumber(b["seq"]));
    const editTexts = new Map<string, Promise<Map<number, string>>>();
    const textsOf = (target: string) => {
      let texts = editTexts.get(target);
      if (!texts) editTexts.set(target, (texts = this.editTexts(room, target)));
      return texts;
    };
    return Promise.all(
      rows.map(async (row) => toEntry(room, row, row["kind"] === "edit" ? await textsOf(row["target"] as string) : undefined)),
    );
  }

  /** The read model's state of a message, to seed Redis with (change-buffer.ts). */
  async storedTarget(room: string, id: string, seq: number, ts: number): Promise<StoredTarget | undefined> {
    const row = (await this.client.execute(Q.target, [room, bucketOf(ts, this.bucketWidthInMs), seq], READ)).first();
    if (!row || row["id"] !== id) return undefined;
    const editedAt = row["edited_at"] as Date | null;
    const deleted = row["deleted"] === true;
    const target: StoredTarget = {
      seq,
      from: row["sender"] as string,
      deleted,
      reactions: deleted ? [] : await this.reactionsOf(room, id),
    };
    if (!deleted && editedAt !== null) target.edited = { text: row["body"] as string, at: editedAt.getTime() };
    return target;
  }

  async reactionsOf(room: string, messageId: string): Promise<Reaction[]> {
    const result = await this.client.execute(Q.reactions, [room, messageId], { ...READ, fetchSize: 10_000 });
    return result.rows.map((row) => ({ emoji: row["emoji"] as string, user: row["user_id"] as string, seq: bigintToNumber(row["seq"]) }));
  }

  async reactionSummary(room: string, messageId: string): Promise<ReactionSummary[]> {
    return summarizeReactions(await this.reactionsOf(room, messageId));
  }

  /** Stored messages (not changes) with afterSeq < seq <= top, counted up to `cap`. */
  async countMessages(room: string, afterSeq: number, top: number, cap: number): Promise<Set<number>> {
    const seqs = new Set<number>();
    if (top <= afterSeq) return seqs;
    for (const bucket of await this.bucketsOf(Q.messageBuckets, room)) {
      const result = await this.client.execute(Q.messageSeqs, [room, bucket, afterSeq, top, cap], READ);
      for (const row of result.rows) seqs.add(bigintToNumber(row["seq"]));
      if (seqs.size >= cap) break;
      const lowest = (await this.client.execute(Q.lowestMessageSeq, [room, bucket], READ)).first();
      if (lowest && bigintToNumber(lowest["seq"]) <= afterSeq + 1) break;
    }
    return seqs;
  }

  private async editTexts(room: string, target: string): Promise<Map<number, string>> {
    const result = await this.client.execute(Q.editTexts, [room, target], { ...READ, fetchSize: 10_000 });
    return new Map(result.rows.map((row) => [bigintToNumber(row["seq"]), row["body"] as string]));
  }

  /** Bucket ids of the room, newest first. */
  private async bucketsOf(query: string, room: string): Promise<number[]> {
    const result = await this.client.execute(query, [room], { ...READ, fetchSize: 10_000 });
    return result.rows.map((row) => row["bucket"] as number);
  }
}

function toEntry(room: string, row: cassandra.types.Row, editTexts: Map<number, string> | undefined): ProjectedEntry {
  const seq = bigintToNumber(row["seq"]);
  const ts = (row["ts"] as Date).getTime();
  const kind = row["kind"] as "message" | ChangeKind;
  if (kind === "message") {
    const message: ChatMessage & { deleted?: true } = {
      id: row["id"] as string,
      room,
      seq,
      from: row["sender"] as string,
      clientId: row["client_id"] as string,
      text: (row["body"] as string | null) ?? "",
      ts,
    };
    const meta = row["meta"] as string | null;
    if (row["erased"] === true) message.deleted = true;
    else if (meta !== null) message.meta = JSON.parse(meta) as Record<string, unknown>;
    return { entry: message, noop: false };
  }
  const change: ChatChange = {
    room,
    seq,
    ts,
    by: row["sender"] as string,
    clientId: row["client_id"] as string,
    kind,
    target: row["target"] as string,
    targetSeq: bigintToNumber(row["target_seq"]),
  };
  if (kind === "edit") change.text = editTexts?.get(seq) ?? "";
  if (kind === "react") {
    change.emoji = row["emoji"] as string;
    change.on = row["react_on"] === true;
  }
  const entry: LogEntry = change;
  return { entry, noop: row["noop"] === true };
}

/**
 * A room's latest stored seq, for seeding Redis: the log's, or the Timeline's for rooms whose
 * messages were stored before the log was (their log is empty).
 */
export class StoredLatest {
  constructor(
    private readonly timeline: { latestOf(room: string): Promise<{ seq: number; ts: number }> },
    private readonly log: RoomLog,
  ) {}

  async latestOf(room: string): Promise<{ seq: number; ts: number }> {
    const [messages, log] = await Promise.all([this.timeline.latestOf(room), this.log.latestOf(room)]);
    return log.seq >= messages.seq ? log : messages;
  }
}
