/**
 * Rebuilding a room's read model from its stored log: every entry is projected again, in seq
 * order, with the same statements the flusher runs (projection.ts, timeline.ts). Writes carry
 * their entry's seq as write time, so replaying over an intact read model changes nothing, and
 * replaying after its rows were dropped (their deletion has a wall-clock write time, below any
 * seq's) brings back exactly the current state; erased texts stay erased, the log's copies of
 * them being erased too.
 */
import type { RoomLog } from "./room-log.js";
import type { Timeline } from "./timeline.js";

/** Entries read and written per round. */
const REPLAY_CHUNK = 1000;

export interface ReplayReport {
  room: string;
  entries: number;
  latestSeq: number;
}

export async function replayRoom(room: string, log: RoomLog, timeline: Pick<Timeline, "write">): Promise<ReplayReport> {
  const { seq: latestSeq } = await log.latestOf(room);
  let entries = 0;
  for (let after = 0; after < latestSeq; after += REPLAY_CHUNK) {
    const chunk = await log.entries(room, after, Math.min(latestSeq, after + REPLAY_CHUNK));
    // A message read back from the log as a tombstone carries no text: write it as stored.
    await timeline.write(chunk.map(({ entry, noop }) => ({ entry: stripDeletedMark(entry), noop })));
    entries += chunk.length;
  }
  return { room, entries, latestSeq };
}

function stripDeletedMark<T extends object>(entry: T): T {
  const { deleted: _deleted, ...rest } = entry as T & { deleted?: true };
  return rest as T;
}
