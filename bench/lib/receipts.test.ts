import assert from "node:assert/strict";
import { test } from "node:test";
import type { Receipt } from "../load/protocol.js";
import { CHECKS, FigureRefused } from "./integrity.js";
import { compareRows, type ReadBack } from "./read-back.js";
import { requireDistinctReceipts, requireStoredOnce } from "./receipts.js";

const receipts: Receipt[] = [
  { room: "a", seq: 1, id: "a1", ts: 0 },
  { room: "a", seq: 2, id: "a2", ts: 0 },
  { room: "b", seq: 1, id: "b1", ts: 0 },
];
const refusedStored = (detail: RegExp) => (error: unknown) =>
  error instanceof FigureRefused && error.check === CHECKS.stored && detail.test(error.message);

/** Cassandra's rows, room → seq → id, as a read-back sees them. */
const rows = (...entries: [string, number, string][]) => {
  const found = new Map<string, Map<number, string>>();
  for (const [room, seq, id] of entries) found.set(room, (found.get(room) ?? new Map<number, string>()).set(seq, id));
  return found;
};
const allStored = rows(["a", 1, "a1"], ["a", 2, "a2"], ["b", 1, "b1"]);

function options(readBacks: ReadBack[], deadLettered = 0) {
  let reads = 0;
  return {
    where: "ingest test",
    receipts,
    readBack: async () => readBacks[Math.min(reads++, readBacks.length - 1)]!,
    deadLettered: async () => deadLettered,
    timeoutInMs: 200,
    pollEveryInMs: 5,
    reads: () => reads,
  };
}

test("distinct receipts pass; one (room, seq) acknowledged for two messages, one id twice, or no receipt refuse", () => {
  requireDistinctReceipts("w", receipts);
  assert.throws(
    () => requireDistinctReceipts("w", [...receipts, { room: "a", seq: 2, id: "other", ts: 0 }]),
    refusedStored(/1 gave a \(room, seq\) already acknowledged.*a\/2 acked for two ids/),
  );
  assert.throws(
    () => requireDistinctReceipts("w", [...receipts, { room: "b", seq: 2, id: "a1", ts: 0 }]),
    refusedStored(/1 an id already acknowledged/),
  );
  assert.throws(() => requireDistinctReceipts("w", []), refusedStored(/no acknowledged send/));
});

test("every acknowledged send read back once: passes, waiting for the flusher's late rows", async () => {
  const late = options([compareRows(receipts, rows(["a", 1, "a1"])), compareRows(receipts, allStored)]);
  const result = await requireStoredOnce(late);
  assert.equal(result.found, 3);
  assert.equal(late.reads(), 2);
});

test("an acknowledged message never stored (lost) refuses once the flusher had its time", async () => {
  const lost = options([compareRows(receipts, rows(["a", 1, "a1"], ["b", 1, "b1"]))]);
  await assert.rejects(requireStoredOnce(lost), refusedStored(/2 of 3 rows read back \(1 missing.*a\/2/));
  assert.ok(lost.reads() > 2, "it waited for the missing row before refusing");
});

test("a row overwritten by another message, or a row nobody was acknowledged for (a send stored twice), refuses at once", async () => {
  const overwritten = options([compareRows(receipts, rows(["a", 1, "a1"], ["a", 2, "b1"], ["b", 1, "b1"]))]);
  await assert.rejects(requireStoredOnce(overwritten), refusedStored(/1 with another id/));
  assert.equal(overwritten.reads(), 1);
  const twice = options([compareRows(receipts, rows(["a", 1, "a1"], ["a", 2, "a2"], ["a", 3, "a2"], ["b", 1, "b1"]))]);
  await assert.rejects(requireStoredOnce(twice), refusedStored(/1 unexpected/));
});

test("a dead-lettered entry refuses even with every row stored", async () => {
  await assert.rejects(
    requireStoredOnce(options([compareRows(receipts, allStored)], 1)),
    refusedStored(/nothing dead-lettered: 1 entries/),
  );
});
