/**
 * The cluster half of the event budget (server/chat/event-budget.ts): every `periodInMs` the
 * node adds what its users consumed to one Redis counter per user and debits from its local
 * buckets what the others consumed. One pipelined round trip per period for the whole node,
 * none per event.
 */
import type { RedisClient } from "../../storage/redis-client.js";
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
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async add(batch: readonly BudgetIncrement[]): Promise<number[]> {
    // Commands sent in one tick: the client's auto-pipelining writes them together (per Redis
    // node on a cluster). An explicit pipeline would fail on a Redis Cluster, where the users'
    // counters live in many slots. INCRBY and PEXPIRE for what was spent here, a GET to learn
    // the others'.
    return Promise.all(
      batch.map(async ({ user, consumed }) => {
        const key = this.keys.eventBudget(user);
        if (consumed > 0) {
          const [total] = await Promise.all([this.redis.incrby(key, consumed), this.redis.pexpire(key, COUNTER_TTL_IN_MS)]);
          return total;
        }
        // A counter that expired reads as null: 0, which restarts the baseline.
        return Number((await this.redis.get(key)) ?? 0);
      }),
    );
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
