import type { RoomAccess } from "./room-access.js";

/**
 * Who is acting: what the transport's token verification yields, and all the domain needs to
 * decide what that user may do.
 */
export interface Principal {
  userId: string;
  /** The token's `rooms` claim, compiled once (room-access.ts). */
  rooms: RoomAccess;
  /** The token's `mod` claim (docs/protocol.md v1.1): rooms where the user may delete others' messages. */
  modPatterns?: string[];
  /** When the token expires, ms since the epoch. */
  expiresAt: number;
}
