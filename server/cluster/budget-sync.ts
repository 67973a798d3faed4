/**
 * The cluster half of the event budget (server/chat/event-budget.ts): every `periodInMs` the
 * node adds what its users consumed to one Redis counter per user and debits from its local
 * buckets what the others consumed. One pipelined round trip per period for the whole node,
 * none per event.
 */
import type { Redis } from "ioredis";
import type { RedisKeys } from "../../storage/keys.js";
import type { BudgetIncrement, EventBudget } from "../chat/event-budget.js";

/** How often each node exchanges its consumption: the lag of the cluster-wide view. */
export const BUDGET_SYNC_PERIOD_IN_MS = 250;
/** A user's counter outlives this many idle ms; nodes that still track them refresh it every period. */
const COUNTER_TTL_IN_MS = 10_000;
/** While Redis is unreachable, one report per this many failed exchanges (10 s at the default period). */
const REPORT_EVERY = 40;

/** Adds each user's consumption to their cluster-wide counter and returns the new totals, in order. */
export interface ConsumptionCounters {
  add(batch: readonly BudgetIncrement[]): Promise<number[]>;
}

export class RedisConsumptionCounters implements ConsumptionCounters {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async add(batch: readonly BudgetIncrement[]): Promise<number[]> {
    // One pipeline: INCRBY and PEXPIRE for what was spent here, a GET to learn the others'.
    const pipeline = this.redis.pipeline();
    const replyIndex: number[] = [];
    let commands = 0;
    for (const { user, consumed } of batch) {
      const key = this.keys.eventBudget(user);
      replyIndex.push(commands);
      if (consumed > 0) {
        pipeline.incrby(key, consumed).pexpire(key, COUNTER_TTL_IN_MS);
        commands += 2;
      } else {
        pipeline.get(key);
        commands += 1;
      }
    }
    const replies = (await pipeline.exec()) ?? [];
    return batch.map((_, i) => {
      const [error, total] = replies[replyIndex[i]!] ?? [new Error("no reply"), undefined];
      if (error) throw error;
      // A counter that expired reads as null: 0, which restarts the baseline.
      return Number(total ?? 0);
    });
  }
}

export interface BudgetSyncOptions {
  budget: EventBudget;
  counters: ConsumptionCounters;
  onError: (error: unknown) => void;
  periodInMs?: number;
}

/** Runs the exchange every period until stopped; one exchange at a time, a failed one is retried with the next. */
export class BudgetSync {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Consecutive failed exchanges: reported at the first and then every REPORT_EVERY, not every 250 ms. */
  private failures = 0;

  constructor(private readonly options: BudgetSyncOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.syncOnce().finally(() => (this.running = undefined));
    }, this.options.periodInMs ?? BUDGET_SYNC_PERIOD_IN_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One exchange (also what tests call directly). */
  async syncOnce(): Promise<void> {
    const { budget, counters, onError } = this.options;
    const batch = budget.syncBatch();
    if (batch.length === 0) return;
    try {
      budget.applyTotals(batch, await counters.add(batch));
      this.failures = 0;
    } catch (error) {
      budget.restore(batch);
      if (this.failures++ % REPORT_EVERY === 0) onError(error);
    }
  }
}
