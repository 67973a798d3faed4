import assert from "node:assert/strict";
import { test } from "node:test";
import { AckDeadlines } from "./ack-deadlines.js";

test("a request past its deadline times out once; one settled in time never does", () => {
  let now = 1000;
  const deadlines = new AckDeadlines(60_000, () => now);
  const timedOut: string[] = [];
  const slow = deadlines.track(500, () => timedOut.push("slow"));
  const fast = deadlines.track(500, () => timedOut.push("fast"));
  const later = deadlines.track(2000, () => timedOut.push("later"));
  assert.equal(deadlines.settle(fast), true);
  now = 1499;
  deadlines.sweep();
  assert.deepEqual(timedOut, []);
  now = 1500;
  deadlines.sweep();
  deadlines.sweep();
  assert.deepEqual(timedOut, ["slow"]);
  assert.equal(deadlines.settle(slow), false, "an ack after the timeout is reported as late");
  assert.equal(deadlines.size, 1);
  assert.equal(deadlines.settle(later), true);
  now = 10_000;
  deadlines.sweep();
  assert.deepEqual(timedOut, ["slow"]);
  assert.equal(deadlines.size, 0);
});
