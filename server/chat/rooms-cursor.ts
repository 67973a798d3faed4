/**
 * The `after` cursor of `rooms` pages: the position of the last room of a page in the order
 * `rooms` lists them (activity descending, then room id ascending). Opaque to clients
 * (base64url of JSON). Like any list ordered by recency, a room used again while a client
 * pages moves to the front, behind the cursor: that pass misses it, the next first page has it.
 */
import { ChatError } from "./errors.js";
import { ROOM_ID } from "./names.js";

export interface RoomsCursor {
  activeAt: number;
  room: string;
}

export function encodeRoomsCursor({ activeAt, room }: RoomsCursor): string {
  return Buffer.from(JSON.stringify([activeAt, room])).toString("base64url");
}

export function decodeRoomsCursor(after: string): RoomsCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(after, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid();
  const [activeAt, room] = parsed as unknown[];
  if (typeof activeAt !== "number" || !Number.isSafeInteger(activeAt) || typeof room !== "string" || !ROOM_ID.test(room)) throw invalid();
  return { activeAt, room };
}

/** True when `row` comes after the cursor's room in the listing order. */
export function isAfterCursor(row: RoomsCursor, cursor: RoomsCursor): boolean {
  return row.activeAt < cursor.activeAt || (row.activeAt === cursor.activeAt && row.room > cursor.room);
}

function invalid(): ChatError {
  return new ChatError("BAD_REQUEST", "after: not a cursor this server returned");
}
