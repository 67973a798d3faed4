/**
 * Which Cassandra partition a statement writes, named by its partition key's *value*, not by its
 * table: the flusher's rows are grouped by this name into UNLOGGED batches (timeline.ts), and
 * Cassandra turns a batch's statements that share a partition key into one mutation, even across
 * tables (one commit-log entry, one request). So a message's read-model row (messages_by_room)
 * and its log row (room_log), both keyed (room, bucket), cost one write; so do a new bucket's
 * rows in room_buckets and log_buckets (keyed room), and a change's edit_texts and
 * reactions_by_message rows (keyed (room, message_id)).
 *
 * Two names must be equal only when the keys' bytes are, so each key shape has its own prefix.
 */

/** messages_by_room, room_log: PRIMARY KEY ((room, bucket), seq). */
export function roomBucketPartition(room: string, bucket: number): string {
  return `rb|${bucket}|${room}`;
}

/** room_buckets, log_buckets: PRIMARY KEY (room, bucket). */
export function roomPartition(room: string): string {
  return `r|${room}`;
}

/** edit_texts, reactions_by_message: PRIMARY KEY ((room, message_id), …). */
export function messagePartition(room: string, messageId: string): string {
  return `m|${room}|${messageId}`;
}

/**
 * A bucket-list row (Statement.bucketRow): which table, room and bucket it records. The table is
 * part of it because the two lists are written apart: a change reaches log_buckets only, so a
 * bucket that only a change reached has no room_buckets row yet.
 */
export function bucketListRow(table: "room_buckets" | "log_buckets", room: string, bucket: number): string {
  return `${table}|${bucket}|${room}`;
}

/** messages_by_user: PRIMARY KEY (user_id, id). */
export function userPartition(user: string): string {
  return `u|${user}`;
}

/** receipts_by_client_id: PRIMARY KEY ((user_id, room), client_id, scope). */
export function receiptPartition(user: string, room: string): string {
  return `k|${user}|${room}`;
}
