/**
 * The event budget on a fake clock: one node's bucket, and two nodes sharing a user's budget
 * through an in-memory stand-in for the Redis counters (the real one: test/limits/).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BudgetSync, type ConsumptionCounters } from "../cluster/budget-sync.js";
import { EventBudget, type BudgetIncrement } from "./event-budget.js";

class InMemoryCounters implements ConsumptionCounters {
  readonly totals = new Map<string, number>();
  failing = false;
  async add(batch: readonly BudgetIncrement[]): Promise<number[]> {
    if (this.failing) throw new Error("Redis down");
    return batch.map(({ user, consumed }) => {
      const total = (this.totals.get(user) ?? 0) + consumed;
      this.totals.set(user, total);
      return total;
    });
  }
}

test("a user gets the burst at once, then the rate; a refusal says how long to wait", () => {
  const clock = { now: 0 };
  const budget = new EventBudget(50, 100, () => clock.now);
  for (let i = 0; i < 100; i++) assert.equal(budget.take("alice"), 0, `event ${i + 1} of the burst`);
  assert.equal(budget.take("alice"), 20, "one token comes back every 20 ms at 50/s");
  assert.equal(budget.take("bob"), 0, "another user has a budget of their own");
  clock.now += 100;
  for (let i = 0; i < 5; i++) assert.equal(budget.take("alice"), 0);
  assert.ok(budget.take("alice") > 0);
  // Over 10 s of hammering every millisecond: the burst plus 50/s.
  let granted = 0;
  for (let ms = 0; ms < 10_000; ms++) {
    clock.now += 1;
    if (budget.take("carol") === 0) granted += 1;
  }
  assert.ok(granted >= 599 && granted <= 601, `granted ${granted}, expected 100 + 10 s × 50`);
});

test("two nodes hammered at once grant the user the limit cluster-wide, within one burst per node", async () => {
  const clock = { now: 0 };
  const counters = new InMemoryCounters();
  const nodes = [0, 1].map(() => {
    const budget = new EventBudget(50, 100, () => clock.now);
    return { budget, sync: new BudgetSync({ budget, counters, onError: (error) => assert.fail(String(error)) }) };
  });
  let granted = 0;
  for (let ms = 1; ms <= 10_000; ms++) {
    clock.now = ms;
    for (const { budget } of nodes) if (budget.take("mallory") === 0) granted += 1;
    if (ms % 250 === 0) for (const { sync } of nodes) await sync.syncOnce();
  }
  // Alone, one node grants 600 in 10 s; two unsynced nodes would grant 1200.
  assert.ok(granted <= 600 + 100 + 13, `granted ${granted} in 10 s across two nodes`);
  assert.ok(granted >= 600, `granted ${granted}: the budget must not be stricter than the limit`);
});

test("idle users with a full bucket are forgotten at the next sync; a failed sync keeps the increments for the next", async () => {
  const clock = { now: 0 };
  const counters = new InMemoryCounters();
  const budget = new EventBudget(50, 100, () => clock.now);
  const errors: unknown[] = [];
  const sync = new BudgetSync({ budget, counters, onError: (error) => errors.push(error) });
  for (let i = 0; i < 10; i++) budget.take("alice");
  counters.failing = true;
  await sync.syncOnce();
  await sync.syncOnce();
  assert.equal(errors.length, 1, "a failing exchange is reported once, not every period");
  counters.failing = false;
  await sync.syncOnce();
  assert.equal(counters.totals.get("alice"), 10, "the increments of the failed exchanges arrive later");
  clock.now += 2000;
  await sync.syncOnce();
  assert.equal(budget.trackedUsers, 0);
});

test("consumption elsewhere is debited, down to at most one burst of debt", () => {
  const clock = { now: 0 };
  const budget = new EventBudget(50, 100, () => clock.now);
  budget.take("alice");
  let batch = budget.syncBatch();
  budget.applyTotals(batch, [1]);
  batch = budget.syncBatch();
  // 10,000 events on other nodes since the last sync.
  budget.applyTotals(batch, [10_001]);
  const wait = budget.take("alice");
  assert.equal(wait, Math.ceil((101 / 50) * 1000), "the debt is capped at one burst: wait for 101 tokens");
});

test("a sparse user is synced only around their events; after a quiet spell the others' spending is not debited at once", () => {
  const clock = { now: 0 };
  const budget = new EventBudget(50, 100, () => clock.now);
  let synced = 0;
  const syncs = (totals: (batch: BudgetIncrement[]) => number[]) => {
    const batch = budget.syncBatch();
    synced += batch.length;
    budget.applyTotals(batch, totals(batch));
  };
  // One event every 10 s for a minute, syncs every 250 ms.
  let total = 0;
  for (let ms = 0; ms < 60_000; ms += 250) {
    clock.now = ms;
    if (ms % 10_000 === 0) assert.equal(budget.take("sparse"), 0);
    syncs((batch) => batch.map(({ consumed }) => (total += consumed)));
  }
  assert.ok(synced <= 6 * 3, `${synced} syncs for 6 events`);
  // Spends its burst, is quiet here for a second (still tracked: its bucket is refilling) while
  // 10,000 events are spent elsewhere, then is active here again.
  clock.now += 20_000;
  for (let i = 0; i < 100; i++) assert.equal(budget.take("sparse"), 0);
  syncs((batch) => batch.map(({ consumed }) => (total += consumed)));
  for (let ms = 250; ms <= 1000; ms += 250) {
    clock.now += 250;
    syncs((batch) => batch.map(({ consumed }) => (total += consumed)));
  }
  total += 10_000;
  clock.now += 500;
  assert.equal(budget.take("sparse"), 0);
  syncs((batch) => batch.map(({ consumed }) => (total += consumed)));
  assert.equal(budget.take("sparse"), 0, "the spending of the quiet spell starts a new baseline instead of a debt");
});
