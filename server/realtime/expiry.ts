/**
 * Ends sessions when their token expires, with one timer for the whole node instead of one
 * per socket (a Timeout, its closure and context were ~250 B of heap per idle connection).
 *
 * Sessions sit in one-second buckets, keyed by their expiry rounded up to a whole second (a
 * JWT's `exp` is in whole seconds anyway). While any session is tracked, a timer wakes just
 * after each second boundary and expires every bucket whose second has passed. So a session
 * ends a few milliseconds after its token's expiry, never before, and at most ~1 s after it
 * if the event loop is busy. The cost per session is one entry in a Set.
 */

/** How late after a second boundary the timer wakes, so `Date.now()` is surely past it. */
const WAKE_AFTER_BOUNDARY_IN_MS = 5;

export class ExpiryWheel<T> {
  /** second (expiry rounded up) → items expiring in it. */
  private readonly buckets = new Map<number, Set<T>>();
  /** Every second up to this one has been expired. */
  private expiredThrough: number;
  private tracked = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly expire: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.expiredThrough = Math.floor(this.now() / 1000);
  }

  get size(): number {
    return this.tracked;
  }

  /** Tracks `item` until `expiresAtInMs` (ms since the epoch); an item already expired goes at the next wake-up. */
  add(item: T, expiresAtInMs: number): void {
    const second = secondOf(expiresAtInMs);
    // Already due (or the clock went back since the last wake-up): make the next wake-up
    // look at this second again; seconds already expired have no bucket left, so re-scanning
    // them costs nothing.
    if (second <= this.expiredThrough) this.expiredThrough = second - 1;
    const bucket = this.buckets.get(second);
    if (bucket) {
      if (bucket.has(item)) return;
      bucket.add(item);
    } else this.buckets.set(second, new Set([item]));
    this.tracked += 1;
    this.schedule();
  }

  /** Stops tracking `item` (added with the same `expiresAtInMs`), e.g. when its socket disconnects first. */
  remove(item: T, expiresAtInMs: number): void {
    const second = secondOf(expiresAtInMs);
    const bucket = this.buckets.get(second);
    if (!bucket?.delete(item)) return;
    if (bucket.size === 0) this.buckets.delete(second);
    this.tracked -= 1;
    if (this.tracked === 0) this.stop();
  }

  /** Expires every item whose expiry is at or before `nowInMs`; what the timer runs. */
  expireDue(nowInMs: number = this.now()): void {
    const current = Math.floor(nowInMs / 1000);
    // Normally one second has passed since the last wake-up; after a long stall or a clock
    // jump, walking the buckets is cheaper than walking the seconds.
    const due =
      current - this.expiredThrough <= this.buckets.size
        ? Array.from({ length: Math.max(0, current - this.expiredThrough) }, (_, i) => this.expiredThrough + 1 + i)
        : [...this.buckets.keys()].filter((second) => second > this.expiredThrough && second <= current);
    for (const second of due) {
      const bucket = this.buckets.get(second);
      if (!bucket) continue;
      this.buckets.delete(second);
      this.tracked -= bucket.size;
      for (const item of bucket) this.expire(item);
    }
    // Never move backwards: a clock stepped back is handled in add().
    if (current > this.expiredThrough) this.expiredThrough = current;
  }

  /** Stops the timer; tracked items stay (nothing expires until the next add()). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    const delay = 1000 - (this.now() % 1000) + WAKE_AFTER_BOUNDARY_IN_MS;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expireDue();
      if (this.tracked > 0) this.schedule();
    }, delay);
    // The server's sockets keep the process alive; this timer alone must not.
    this.timer.unref();
  }
}

/** The whole second an expiry falls due in: the first second boundary at or after it. */
function secondOf(expiresAtInMs: number): number {
  return Math.ceil(expiresAtInMs / 1000);
}
