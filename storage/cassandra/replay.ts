/**
 * Rebuilding a room's read model (current messages, tombstones, edits, reactions) from its
 * stored log: the log is folded in seq order into each message's final state, the room's
 * read-model rows are dropped, and the final state is written.
 *
 * Write times (projection.ts): the drop is stamped just above the log's latest write, so it
 * shadows every row the projection wrote so far, also rows a late flusher write would revive;
 * the rebuilt rows just above the drop; and the next entry of the log writes above both, so
 * the flusher carries on from the rebuilt state. Run it once the room's entries are flushed: an
 * entry still in the write buffer below the latest stored seq would be shadowed by the drop.
 */
import { isChange, type ChatChange } from "../change.js";
import { bucketOf, type ChatMessage } from "../message.js";
import type { CassandraClient } from "./client.js";
import { dropWriteTime, rebuildWriteTime } from "./projection.js";
import type { RoomLog } from "./room-log.js";

/** Entries read per round. */
const REPLAY_CHUNK = 1000;
/** Statements in flight while dropping and writing. */
const CONCURRENCY = 32;

const Q = {
  bucketsOfRoom: `SELECT bucket FROM room_buckets WHERE room = ?`,
  dropMessages: `DELETE FROM messages_by_room USING TIMESTAMP ? WHERE room = ? AND bucket = ?`,
  dropReactions: `DELETE FROM reactions_by_message USING TIMESTAMP ? WHERE room = ? AND message_id = ?`,
  message: `INSERT INTO messages_by_room (room, bucket, seq, id, sender, client_id, body, meta, ts, edited_at, deleted, reacted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
  userIndex: `INSERT INTO messages_by_user (user_id, id, room, seq, bucket, ts) VALUES (?, ?, ?, ?, ?, ?)`,
  bucket: `INSERT INTO room_buckets (room, bucket) VALUES (?, ?)`,
  reaction: `INSERT INTO reactions_by_message (room, message_id, emoji, user_id, seq) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?`,
} as const;

export interface ReplayReport {
  room: string;
  entries: number;
  messages: number;
  latestSeq: number;
}

/** A message's state after the log so far. */
interface Folded {
  message: ChatMessage;
  deleted: boolean;
  edited?: { text: string; at: number };
  /** "<user>\n<emoji>" → the seq of the reaction. */
  reactions: Map<string, number>;
}

export async function replayRoom(room: string, log: RoomLog, client: CassandraClient, bucketWidthInMs: number): Promise<ReplayReport> {
  const { seq: latestSeq } = await log.latestOf(room);
  const folded = new Map<string, Folded>();
  let entries = 0;
  for (let after = 0; after < latestSeq; after += REPLAY_CHUNK) {
    for (const { entry, noop } of await log.entries(room, after, Math.min(latestSeq, after + REPLAY_CHUNK))) {
      entries++;
      if (!isChange(entry)) {
        const { deleted: _deleted, ...message } = entry as ChatMessage & { deleted?: true };
        folded.set(message.id, { message, deleted: false, reactions: new Map() });
      } else if (!noop) {
        apply(folded.get(entry.target), entry);
      }
    }
  }
  await dropReadModel(client, room, [...folded.keys()], latestSeq);
  const time = rebuildWriteTime(latestSeq);
  const statements: [string, unknown[]][] = [];
  const buckets = new Set<number>();
  for (const { message: m, deleted, edited, reactions } of folded.values()) {
    const bucket = bucketOf(m.ts, bucketWidthInMs);
    const ts = new Date(m.ts);
    const meta = deleted || m.meta === undefined ? null : JSON.stringify(m.meta);
    statements.push([
      Q.message,
      [
        room,
        bucket,
        m.seq,
        m.id,
        m.from,
        m.clientId,
        deleted ? "" : (edited?.text ?? m.text),
        meta,
        ts,
        deleted || !edited ? null : new Date(edited.at),
        deleted || null,
        deleted || reactions.size === 0 ? null : true,
        time,
      ],
    ]);
    statements.push([Q.userIndex, [m.from, m.id, room, m.seq, bucket, ts]]);
    if (!buckets.has(bucket)) statements.push([Q.bucket, [room, bucket]]);
    buckets.add(bucket);
    if (deleted) continue;
    for (const [key, seq] of reactions) {
      const separator = key.indexOf("\n");
      statements.push([Q.reaction, [room, m.id, key.slice(separator + 1), key.slice(0, separator), seq, time]]);
    }
  }
  await runAll(client, statements);
  return { room, entries, messages: folded.size, latestSeq };
}

/** One change applied to its message's folded state; a change to a deleted message changes nothing. */
function apply(state: Folded | undefined, change: ChatChange): void {
  if (!state || state.deleted) return;
  switch (change.kind) {
    case "edit":
      state.edited = { text: change.text ?? "", at: change.ts };
      break;
    case "delete":
      state.deleted = true;
      state.edited = undefined;
      state.reactions.clear();
      break;
    case "react": {
      const key = `${change.by}\n${change.emoji ?? ""}`;
      if (change.on && !state.reactions.has(key)) state.reactions.set(key, change.seq);
      if (!change.on) state.reactions.delete(key);
      break;
    }
  }
}

/**
 * Drops the room's read-model rows (messages_by_room, reactions) as of the log's `latestSeq`;
 * the log itself (room_log, edit_texts) stays. Exported for tests that rebuild from nothing.
 */
export async function dropReadModel(
  client: CassandraClient,
  room: string,
  messageIds: readonly string[],
  latestSeq: number,
): Promise<void> {
  const time = dropWriteTime(latestSeq);
  const buckets = (await client.execute(Q.bucketsOfRoom, [room], { prepare: true, fetchSize: 10_000 })).rows.map(
    (row) => row["bucket"] as number,
  );
  await runAll(client, [
    ...buckets.map((bucket): [string, unknown[]] => [Q.dropMessages, [time, room, bucket]]),
    ...messageIds.map((id): [string, unknown[]] => [Q.dropReactions, [time, room, id]]),
  ]);
}

async function runAll(client: CassandraClient, statements: readonly [string, unknown[]][]): Promise<void> {
  for (let i = 0; i < statements.length; i += CONCURRENCY) {
    await Promise.all(statements.slice(i, i + CONCURRENCY).map(([query, params]) => client.execute(query, params, { prepare: true })));
  }
}
