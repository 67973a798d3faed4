import type { RoomAccess } from "./room-access.js";

/**
 * Who is acting: what the transport's token verification yields, and all the domain needs to
 * decide what that user may do.
 */
export interface Principal {
  userId: string;
  /** The token's `rooms` claim, compiled once (room-access.ts). */
  rooms: RoomAccess;
  /** When the token expires, ms since the epoch. */
  expiresAt: number;
}
