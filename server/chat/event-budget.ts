/**
 * Every client event a user makes draws on one budget (docs/protocol.md v1.1 "Limits"): `rate`
 * events per second with bursts of `burst`, cluster-wide, without a Redis round trip per event.
 *
 * How: each node keeps a token bucket per user who was active on it recently and decides
 * every event locally. Every sync period (~250 ms, server/cluster/budget-sync.ts) the node
 * adds what its users consumed since the last sync to one cluster-wide counter per user and
 * gets the new total back; whatever the total grew by beyond the node's own share was consumed
 * on other nodes, and is debited from the local bucket. So every node's bucket sees all of the
 * user's consumption, its own at once and the others' within one period plus a round trip.
 *
 * The error this leaves, for a user hammering k nodes at once: between two syncs each node
 * can grant at most what its bucket holds, so over any window T the cluster grants at most
 * rate × T + k × burst + (k − 1) × rate × period. Over the 10 s an abuse check looks at, with
 * k = 2 nodes: 500 + 200 + 12.5 events instead of 600, i.e. the limit × (1 + ~0.2), and the
 * excess does not grow with T. A user whose bucket refilled and who has been idle here is
 * forgotten, so the node holds entries only for users active in the last few seconds.
 *
 * Remote consumption may push a bucket below zero (down to −burst): the user then waits here
 * for what they spent elsewhere.
 */

/** What `syncBatch` hands to the cluster counter: a user and what they consumed here since the last sync. */
export interface BudgetIncrement {
  user: string;
  consumed: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last refilled, ms. */
  at: number;
  /** Consumed here and not yet added to the cluster counter. */
  unsynced: number;
  /** The cluster total after our last sync; undefined before the first. */
  seenTotal: number | undefined;
  lastLocalAt: number;
}

export class EventBudget {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
    /** How long after a user's last event here they stay in the syncs (two sync periods). */
    private readonly watchAfterEventMs = 500,
  ) {}

  /** Users this node tracks (active here recently). */
  get trackedUsers(): number {
    return this.buckets.size;
  }

  /** Takes one event from the user's budget: 0 if granted, else how long to wait (ms) before one is. */
  take(user: string): number {
    const now = this.now();
    let bucket = this.buckets.get(user);
    if (!bucket) {
      bucket = { tokens: this.burst, at: now, unsynced: 0, seenTotal: undefined, lastLocalAt: now };
      this.buckets.set(user, bucket);
    }
    this.refill(bucket, now);
    bucket.lastLocalAt = now;
    if (bucket.tokens < 1) return Math.max(1, Math.ceil(((1 - bucket.tokens) / this.ratePerSecond) * 1000));
    bucket.tokens -= 1;
    bucket.unsynced += 1;
    return 0;
  }

  /**
   * The increments to add to the cluster counters: the users who made an event here since the
   * last sync, and for a short while after (consumed 0, to learn what they spend elsewhere
   * while they are active here). A user quiet here is not synced, so a sparse user costs a
   * sync or two per event, not four a second; their next sync starts a new baseline, so what
   * they spent elsewhere meanwhile is not debited all at once (the bound above still holds:
   * it is at most one burst). Users idle here with a full bucket are forgotten.
   */
  syncBatch(): BudgetIncrement[] {
    const now = this.now();
    const batch: BudgetIncrement[] = [];
    for (const [user, bucket] of this.buckets) {
      this.refill(bucket, now);
      if (bucket.unsynced === 0 && bucket.tokens >= this.burst && now - bucket.lastLocalAt >= this.idleAfterMs()) {
        this.buckets.delete(user);
        continue;
      }
      if (bucket.unsynced === 0 && now - bucket.lastLocalAt >= this.watchAfterEventMs) {
        bucket.seenTotal = undefined;
        continue;
      }
      batch.push({ user, consumed: bucket.unsynced });
      bucket.unsynced = 0;
    }
    return batch;
  }

  /**
   * The cluster totals after adding `batch` (same order). The growth beyond our own increment
   * was spent on other nodes: debit it. A total lower than expected means the counter expired
   * or was lost; it restarts from there and nothing is debited.
   */
  applyTotals(batch: readonly BudgetIncrement[], totals: readonly number[]): void {
    batch.forEach(({ user, consumed }, i) => {
      const total = totals[i];
      const bucket = this.buckets.get(user);
      if (!bucket || total === undefined) return;
      const elsewhere = bucket.seenTotal === undefined ? 0 : total - bucket.seenTotal - consumed;
      bucket.seenTotal = total;
      if (elsewhere > 0) bucket.tokens = Math.max(-this.burst, bucket.tokens - elsewhere);
    });
  }

  /** The sync failed: keep the increments for the next one, so the cluster still learns them. */
  restore(batch: readonly BudgetIncrement[]): void {
    for (const { user, consumed } of batch) {
      const bucket = this.buckets.get(user);
      if (bucket) bucket.unsynced += consumed;
    }
  }

  private refill(bucket: Bucket, now: number): void {
    if (now <= bucket.at) return;
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSecond);
    bucket.at = now;
  }

  /** How long a user with a full bucket stays tracked after their last event here: one full refill. */
  private idleAfterMs(): number {
    return (this.burst / this.ratePerSecond) * 1000;
  }
}
