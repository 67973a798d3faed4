/**
 * The Redis keys of message changes, derived from the room's own keys (keys.ts) by a suffix, so
 * they carry the same hash tag wherever keys.ts puts one: every key the change script touches
 * is in the room's slot, as the send's are.
 */
import type { RedisKeys } from "./keys.js";

export class ChangeKeys {
  constructor(private readonly keys: RedisKeys) {}

  /** Sorted set seq → change JSON: the room's newest changes, for `join { since }` without Cassandra. */
  roomChanges(room: string): string {
    return `${this.keys.roomRecent(room)}:changes`;
  }

  /**
   * Hash: a changed message's current state, decided atomically with each change (change-script.ts):
   * `seq`, `from`, `deleted`, `text` and `editedAt` after an edit, `emojis` (distinct emoji),
   * `e:<emoji>` (reactors of that emoji), `r:<user>\n<emoji>` (the seq of that user's reaction).
   */
  messageState(room: string, id: string): string {
    return `${this.keys.roomMeta(room)}:msg:${id}`;
  }

  /** A change's idempotency record: the user's sends and changes keep separate clientIds. */
  idempotency(by: string, room: string, clientId: string): string {
    return `${this.keys.idempotency(by, room, clientId)}:change`;
  }
}
