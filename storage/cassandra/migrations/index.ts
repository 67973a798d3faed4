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
];
