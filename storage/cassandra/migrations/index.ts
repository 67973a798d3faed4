/**
 * Versioned schema migrations. Each statement is idempotent (IF NOT EXISTS), so a migration
 * interrupted half-way is simply applied again; `schema_migrations` records what completed.
 * Append new migrations; never edit one that has shipped.
 */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "room timelines, user index, room buckets",
    statements: [
      // A room's timeline, partitioned by (room, time bucket) so no partition grows without
      // bound; newest first because history pages backwards.
      `CREATE TABLE IF NOT EXISTS messages_by_room (
        room text, bucket int, seq bigint,
        id text, sender text, client_id text, body text, meta text, ts timestamp,
        PRIMARY KEY ((room, bucket), seq)
      ) WITH CLUSTERING ORDER BY (seq DESC)`,
      // Which buckets of a room hold messages, newest first: how readers find the partitions.
      `CREATE TABLE IF NOT EXISTS room_buckets (
        room text, bucket int,
        PRIMARY KEY (room, bucket)
      ) WITH CLUSTERING ORDER BY (bucket DESC)`,
      // User-keyed: every message a user wrote, for export and erasure.
      `CREATE TABLE IF NOT EXISTS messages_by_user (
        user_id text, id text, room text, seq bigint, bucket int, ts timestamp,
        PRIMARY KEY (user_id, id)
      ) WITH CLUSTERING ORDER BY (id DESC)`,
      // User-keyed: the rooms a user is in, with their read pointers.
      `CREATE TABLE IF NOT EXISTS user_rooms (
        user_id text, room text, read_seq bigint, joined_at timestamp,
        PRIMARY KEY (user_id, room)
      )`,
    ],
  },
  {
    version: 2,
    name: "room logs: every entry stored, changes projected (edits, tombstones, reactions)",
    statements: [
      // The room's log (messages and changes, one seq), the store the read model is a
      // projection of (replay.ts). Edit texts are in edit_texts, so deleting a message can erase
      // them without knowing their seqs.
      `CREATE TABLE IF NOT EXISTS room_log (
        room text, bucket int, seq bigint,
        kind text, id text, sender text, client_id text, body text, meta text, ts timestamp,
        target text, target_seq bigint, emoji text, react_on boolean, noop boolean, erased boolean,
        PRIMARY KEY ((room, bucket), seq)
      ) WITH CLUSTERING ORDER BY (seq ASC)`,
      // Which buckets of a room hold log entries, newest first.
      `CREATE TABLE IF NOT EXISTS log_buckets (
        room text, bucket int,
        PRIMARY KEY (room, bucket)
      ) WITH CLUSTERING ORDER BY (bucket DESC)`,
      // The text of each edit, by message: a delete erases them all with one partition deletion
      // whose write time (the delete's seq) also shadows an edit written again later.
      `CREATE TABLE IF NOT EXISTS edit_texts (
        room text, message_id text, seq bigint, body text,
        PRIMARY KEY ((room, message_id), seq)
      )`,
      // Reactions, one row per (message, emoji, user): counts are row counts, never counters,
      // so an entry applied twice changes nothing.
      `CREATE TABLE IF NOT EXISTS reactions_by_message (
        room text, message_id text, emoji text, user_id text, seq bigint,
        PRIMARY KEY ((room, message_id), emoji, user_id)
      )`,
      // The read model's current state of a message, beside its original columns.
      `ALTER TABLE IF EXISTS messages_by_room ADD IF NOT EXISTS edited_at timestamp`,
      `ALTER TABLE IF EXISTS messages_by_room ADD IF NOT EXISTS deleted boolean`,
      `ALTER TABLE IF EXISTS messages_by_room ADD IF NOT EXISTS reacted boolean`,
    ],
  },
  {
    version: 3,
    name: "idempotency receipts beyond Redis's window",
    statements: [
      // The first ack of each (user, room, clientId), for a duplicate that arrives after Redis
      // let the receipt go (storage/cassandra/receipts.ts): the flusher writes it with its entry,
      // with a TTL that ends idempotencyTtl after the entry's ts. `scope` keeps a user's sends
      // and changes apart (their clientIds are separate namespaces). Partitioned by (user, room)
      // so one user's receipts in a room go in one batch; a lookup reads one row by its key.
      // Written with real write times (never a log write time): TimeWindowCompactionStrategy
      // groups SSTables by write time and drops a whole expired one without reading it.
      // default_time_to_live is a backstop for a write without TTL.
      `CREATE TABLE IF NOT EXISTS receipts_by_client_id (
        user_id text, room text, client_id text, scope text,
        id text, seq bigint, ts timestamp,
        PRIMARY KEY ((user_id, room), client_id, scope)
      ) WITH default_time_to_live = 90000
        AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': 2}`,
    ],
  },
];
