import assert from "node:assert/strict";
import { test } from "node:test";
import { FloodGuard, type FloodState } from "./flood-guard.js";

/** Sends `perSecond` events in each of `seconds` seconds from `start`; returns the first second (relative) it was flagged in, or -1. */
function hammer(
  guard: FloodGuard,
  clock: { now: number },
  perSecond: number,
  seconds: number,
  state?: FloodState,
): { flaggedAt: number; state: FloodState | undefined } {
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < perSecond; i++) {
      clock.now += 1000 / perSecond;
      const counted = guard.count(state);
      state = counted.state;
      if (counted.flooding) return { flaggedAt: s, state };
    }
  }
  return { flaggedAt: -1, state };
}

test("a socket at the threshold for the whole window is flagged in its last second", () => {
  const clock = { now: 1_000_000 };
  const guard = new FloodGuard(500, 10, 1000, () => clock.now);
  // Starts on a second boundary: the first counted second is whole.
  clock.now = 999_999;
  assert.equal(hammer(guard, clock, 500, 12).flaggedAt, 9);
});

test("just below the threshold, or a pause in between, is never flagged", () => {
  const clock = { now: 999_999 };
  const guard = new FloodGuard(500, 10, 1000, () => clock.now);
  assert.equal(hammer(guard, clock, 490, 20).flaggedAt, -1);
  // Nine seconds at the threshold, one quiet second, nine more: the streak restarts.
  const { state } = hammer(guard, clock, 500, 9);
  clock.now += 1000;
  assert.equal(hammer(guard, clock, 500, 9, state).flaggedAt, -1);
});

test("a socket sending 1000 events within one second is flagged at once", () => {
  const clock = { now: 999_999 };
  const guard = new FloodGuard(500, 10, 1000, () => clock.now);
  assert.equal(hammer(guard, clock, 999, 3).flaggedAt, -1, "999 a second is only the sustained rule's business");
  const fresh = new FloodGuard(500, 10, 1000, () => clock.now);
  clock.now = 1_999_999;
  assert.equal(hammer(fresh, clock, 1000, 2).flaggedAt, 0);
});
