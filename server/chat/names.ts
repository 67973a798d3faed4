/** Names and room permissions, PROTOCOL.md "Names". */
export const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
export const ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * A user may use a room when a pattern of the token's `rooms` claim matches it (exactly, or as
 * a prefix for a pattern ending in "*"), or when it is a direct-message room dm:<a>:<b> with
 * a < b in byte order and the user is a or b.
 */
export function mayUseRoom(userId: string, roomPatterns: readonly string[], room: string): boolean {
  for (const pattern of roomPatterns) {
    if (pattern.endsWith("*") ? room.startsWith(pattern.slice(0, -1)) : room === pattern) return true;
  }
  return isDirectRoomOf(userId, room);
}

/** A user moderates a room when a pattern of the token's `mod` claim matches it, as `rooms` patterns do. */
export function mayModerate(modPatterns: readonly string[], room: string): boolean {
  return modPatterns.some((pattern) => (pattern.endsWith("*") ? room.startsWith(pattern.slice(0, -1)) : room === pattern));
}

function isDirectRoomOf(userId: string, room: string): boolean {
  if (!room.startsWith("dm:")) return false;
  const parts = room.split(":");
  if (parts.length !== 3) return false;
  const [, a, b] = parts as [string, string, string];
  if (!USER_ID.test(a) || !USER_ID.test(b)) return false;
  // Byte order: user ids are ASCII, where code-unit comparison is byte comparison.
  if (!(a < b)) return false;
  return userId === a || userId === b;
}
