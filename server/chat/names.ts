/** Names, docs/protocol.md "Names"; who may use which room is room-access.ts. */
export const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
export const ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** A user moderates a room when a pattern of the token's `mod` claim matches it (exactly, or as a prefix for a pattern ending in "*"). */
export function mayModerate(modPatterns: readonly string[], room: string): boolean {
  return modPatterns.some((pattern) => (pattern.endsWith("*") ? room.startsWith(pattern.slice(0, -1)) : room === pattern));
}
