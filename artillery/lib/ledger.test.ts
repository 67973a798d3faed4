import { test } from "node:test";
import assert from "node:assert/strict";
import { auditDelivery, DeliveryLedger } from "./ledger.js";

test("a member owes every acked seq above its join seq that was acked before the cut-off", () => {
  const ledger = new DeliveryLedger();
  ledger.join({ memberId: "a", room: "r", joinSeq: 10 });
  ledger.acknowledged("r", 10, 1000); // at or below the join seq: before a joined
  ledger.acknowledged("r", 12, 1100);
  ledger.acknowledged("r", 11, 1050); // acks arrive out of order across senders
  ledger.acknowledged("r", 13, 5000); // after the cut-off: still in flight, not owed yet
  assert.deepEqual(ledger.expected("a", "r", 2000), [11, 12]);
});

test("the audit names the owed seqs that were not received", () => {
  assert.deepEqual(auditDelivery([11, 12, 13], new Set([11, 13, 14])), { expected: 3, lost: [12] });
  assert.deepEqual(auditDelivery([], new Set([1])), { expected: 0, lost: [] });
});

test("acks for rooms without members are not kept, and leaving prunes what nobody needs", () => {
  const ledger = new DeliveryLedger();
  ledger.acknowledged("r", 1, 0);
  ledger.join({ memberId: "a", room: "r", joinSeq: 1 });
  ledger.join({ memberId: "b", room: "r", joinSeq: 5 });
  for (const seq of [2, 3, 4, 5, 6]) ledger.acknowledged("r", seq, 0);
  assert.deepEqual(ledger.expected("a", "r", 10), [2, 3, 4, 5, 6]);
  assert.deepEqual(ledger.expected("b", "r", 10), [6]);
  ledger.leave("a", "r");
  assert.deepEqual(ledger.expected("a", "r", 10), [], "a left: owes nothing");
  assert.deepEqual(ledger.expected("b", "r", 10), [6], "b's debt survives a's leaving");
  ledger.leave("b", "r");
  assert.equal(ledger.trackedRooms, 0);
});

test("members of one room owe nothing for another", () => {
  const ledger = new DeliveryLedger();
  ledger.join({ memberId: "a", room: "r1", joinSeq: 0 });
  ledger.join({ memberId: "b", room: "r2", joinSeq: 0 });
  ledger.acknowledged("r2", 1, 0);
  assert.deepEqual(ledger.expected("a", "r1", 10), []);
  assert.deepEqual(ledger.expected("a", "r2", 10), [], "a is not a member of r2");
  assert.deepEqual(ledger.expected("b", "r2", 10), [1]);
});

test("acked changes are owed like messages and told apart from them", () => {
  const ledger = new DeliveryLedger();
  ledger.join({ memberId: "a", room: "r", joinSeq: 0 });
  ledger.join({ memberId: "b", room: "r", joinSeq: 3 });
  ledger.acknowledged("r", 1, 0);
  ledger.acknowledged("r", 2, 0, true);
  ledger.acknowledged("r", 4, 0, true);
  assert.deepEqual(ledger.expected("a", "r", 10), [1, 2, 4]);
  assert.deepEqual(
    [1, 2, 4].map((seq) => ledger.isChange("r", seq)),
    [false, true, true],
  );
  ledger.leave("a", "r");
  assert.equal(ledger.isChange("r", 2), false, "pruned with the acked seq nobody needs any more");
  assert.equal(ledger.isChange("r", 4), true);
});
