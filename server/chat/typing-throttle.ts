/**
 * At most one `typing` per (user, room) per interval is fanned out (docs/protocol.md v1.1 "Limits");
 * the rest are dropped: typing is ephemeral and a client repeats it while the user types.
 *
 * Per node: a user typing into one room through sockets on k nodes gets up to k per interval.
 * Memory: two generations of (user, room) → last delivery, rotated every interval, so an
 * entry lives at most two intervals and the node holds only pairs that typed recently.
 */
export class TypingThrottle {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private rotatedAt: number;

  constructor(
    private readonly intervalInMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.rotatedAt = this.now();
  }

  /** True when this `typing` is to be delivered; records it. */
  allow(user: string, room: string): boolean {
    const now = this.now();
    if (now - this.rotatedAt >= this.intervalInMs) {
      this.previous = now - this.rotatedAt >= 2 * this.intervalInMs ? new Map() : this.current;
      this.current = new Map();
      this.rotatedAt = now;
    }
    const key = `${user}|${room}`;
    const last = this.current.get(key) ?? this.previous.get(key);
    if (last !== undefined && now - last < this.intervalInMs) return false;
    this.current.set(key, now);
    return true;
  }

  /** Pairs held: bounded by the pairs that typed in the last two intervals. */
  get size(): number {
    return this.current.size + this.previous.size;
  }
}
