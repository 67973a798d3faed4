import assert from "node:assert/strict";
import { test } from "node:test";
import type { Message } from "../../client/protocol.js";
import { AckLedger } from "./ledger.js";

const message = (seq: number, id = `m${seq}`): Message => ({ id, room: "r", seq, from: "u", clientId: `c${seq}`, text: "t", ts: seq });

function ledgerOf(seqs: number[]): AckLedger {
  const ledger = new AckLedger();
  for (const seq of seqs) ledger.record({ room: "r", seq, id: `m${seq}`, clientId: `c${seq}`, at: seq * 10 });
  return ledger;
}

test("a room holding every acknowledged seq once, in order, passes", () => {
  const check = ledgerOf([1, 2, 3]).check(
    "r",
    [1, 2, 3].map((seq) => message(seq)),
    [1, 2, 3],
  );
  assert.deepEqual(check, { lost: 0, duplicates: 0, gaps: 0, problems: [] });
});

test("a missing acknowledged seq is lost and a gap; a repeated one is a duplicate; a wrong id is lost", () => {
  const ledger = ledgerOf([1, 2, 3, 4]);
  const missing = ledger.check(
    "r",
    [1, 2, 4].map((seq) => message(seq)),
    [1, 2, 4],
  );
  assert.equal(missing.lost, 1);
  assert.equal(missing.gaps, 2, "in the model and in the events");
  const repeated = ledger.check(
    "r",
    [1, 2, 2, 3, 4].map((seq) => message(seq)),
    [1, 2, 3, 4],
  );
  assert.equal(repeated.duplicates, 1);
  const repeatedEvent = ledger.check(
    "r",
    [1, 2, 3, 4].map((seq) => message(seq)),
    [1, 2, 3, 3, 4],
  );
  assert.equal(repeatedEvent.duplicates, 1);
  const wrongId = ledger.check("r", [message(1), message(2, "other"), message(3), message(4)], [1, 2, 3, 4]);
  assert.equal(wrongId.lost, 1);
});

test("the last seq acknowledged by a moment; seqs no ack named; one clientId acknowledged as two messages", () => {
  const ledger = ledgerOf([1, 2, 4]);
  assert.equal(ledger.lastAckedBy("r", 20), 2);
  assert.equal(ledger.lastAckedBy("other", 20), 0);
  assert.deepEqual(ledger.unacknowledged("r"), [3]);
  ledger.record({ room: "r", seq: 2, id: "m2", clientId: "c2", at: 50 });
  assert.deepEqual(ledger.conflicts, [], "the same ack twice (a resend answered as a duplicate) is no conflict");
  ledger.record({ room: "r", seq: 2, id: "x", clientId: "c9", at: 60 });
  assert.equal(ledger.conflicts.length, 1);
});
