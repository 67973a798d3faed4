/**
 * A token's room permissions, compiled once per connection (docs/protocol.md "Names"): exact room
 * ids in a Set, prefixes (patterns ending in "*") in a Set keyed by their length. A check
 * looks up the room itself and its prefix of each distinct prefix length; room ids are at
 * most 128 characters, so a check costs at most 130 lookups however many patterns the token
 * has (a loop over the patterns cost one comparison each: 3,000 patterns halved the rate of
 * `typing` a node could check).
 */
import { USER_ID } from "./names.js";

export class RoomAccess {
  private constructor(
    private readonly exact: ReadonlySet<string>,
    private readonly prefixes: ReadonlySet<string>,
    /** Distinct lengths of `prefixes`, ascending. */
    private readonly prefixLengths: readonly number[],
  ) {}

  static compile(patterns: readonly string[]): RoomAccess {
    const exact = new Set<string>();
    const prefixes = new Set<string>();
    for (const pattern of patterns) {
      if (pattern.endsWith("*")) prefixes.add(pattern.slice(0, -1));
      else exact.add(pattern);
    }
    const lengths = [...new Set([...prefixes].map((prefix) => prefix.length))].sort((a, b) => a - b);
    return new RoomAccess(exact, prefixes, lengths);
  }

  /**
   * A user may use a room when a pattern matches it (exactly, or as a prefix for a pattern
   * ending in "*"), or when it is a direct-message room dm:<a>:<b> with a < b in byte order
   * and the user is a or b.
   */
  allows(userId: string, room: string): boolean {
    if (this.exact.has(room)) return true;
    for (const length of this.prefixLengths) {
      if (length > room.length) break;
      if (this.prefixes.has(room.slice(0, length))) return true;
    }
    return isDirectRoomOf(userId, room);
  }
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
