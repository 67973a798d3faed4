import assert from "node:assert/strict";
import { test } from "node:test";
import { distribution, formatDistribution } from "./stats.js";

test("nearest-rank percentiles of 1..100 are the values themselves", () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.deepEqual(distribution(values), { count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
});

test("one value is every percentile; none prints dashes", () => {
  assert.deepEqual(distribution([7]), { count: 1, p50: 7, p95: 7, p99: 7, max: 7 });
  assert.equal(formatDistribution(distribution([])), "p50 -, p95 -, p99 -, max - (0 clients)");
});
