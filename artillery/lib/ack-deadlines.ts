/**
 * Ack timeouts for every request of a worker's virtual users on one shared timer.
 *
 * socket.io-client's `socket.timeout(ms).emitWithAck()` arms a timer per request and clears it
 * when the ack comes: at thousands of sends a second that is thousands of timers armed and
 * cleared for timeouts that almost never fire. Here each request is an entry in a set, and one
 * interval per worker fails those past their deadline; a timeout fires up to `sweepEveryInMs`
 * late, which is noise against ack timeouts of seconds.
 */
export interface PendingAck {
  readonly deadline: number;
  readonly onTimeout: () => void;
}

export class AckDeadlines {
  private readonly pending = new Set<PendingAck>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sweepEveryInMs = 250,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts watching a request; `settle` it when its ack arrives. */
  track(timeoutInMs: number, onTimeout: () => void): PendingAck {
    const entry = { deadline: this.now() + timeoutInMs, onTimeout };
    this.pending.add(entry);
    // The timer only runs while something waits, and never keeps the process alive by itself.
    this.timer ??= setInterval(() => this.sweep(), this.sweepEveryInMs).unref();
    return entry;
  }

  /** The ack arrived: forget the request. Returns false when it had already timed out. */
  settle(entry: PendingAck): boolean {
    return this.pending.delete(entry);
  }

  /** Fails every request past its deadline; called by the shared timer (and by tests). */
  sweep(): void {
    const now = this.now();
    for (const entry of this.pending) {
      if (entry.deadline > now) continue;
      this.pending.delete(entry);
      entry.onTimeout();
    }
    if (this.pending.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  get size(): number {
    return this.pending.size;
  }
}
