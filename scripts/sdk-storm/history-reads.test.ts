import assert from "node:assert/strict";
import { test } from "node:test";
import { formatHistoryDelta, historyDelta, type HistoryCounts } from "./history-reads.js";

const counts = (since: number, reads: number): HistoryCounts => ({
  requests: { since, latest: 4, page: 0 },
  storageReads: { since: reads, latest: 2, page: 0 },
});

test("the delta is per counter and kind, and only kinds with requests are printed", () => {
  const delta = historyDelta(counts(10, 3), counts(610, 47));
  assert.deepEqual(delta, { requests: { since: 600, latest: 0, page: 0 }, storageReads: { since: 44, latest: 0, page: 0 } });
  assert.deepEqual(formatHistoryDelta(delta, 22), ["since: 600 requests → 44 storage reads (2.0 per room)"]);
});
