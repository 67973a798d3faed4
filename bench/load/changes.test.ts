import assert from "node:assert/strict";
import { test } from "node:test";
import { BENCH_EMOJI, editText, nthChange, parseChangeAck } from "./changes.js";

const targets = [
  { room: "chg-0", id: "m0" },
  { room: "chg-1", id: "m1" },
];

test("each target gets an edit then a reaction, in turn; each edit's text is its own, of the message size", () => {
  const edit = nthChange(0, targets, "bench-0", "c0", 100);
  assert.equal(edit.event, "edit");
  assert.deepEqual(edit.payload, { room: "chg-0", id: "m0", clientId: "c0", text: editText("c0", 100) });
  assert.deepEqual(edit.receipt, { room: "chg-0", clientId: "c0", target: "m0", by: "bench-0", kind: "edit", text: editText("c0", 100) });
  assert.equal(editText("c0", 100).length, 100);
  assert.notEqual(editText("c0", 100), editText("c1", 100));
  const react = nthChange(1, targets, "bench-0", "c1", 100);
  assert.equal(react.event, "react");
  assert.deepEqual(react.payload, { room: "chg-0", id: "m0", clientId: "c1", emoji: BENCH_EMOJI[0], on: true });
  assert.equal(react.receipt.kind, "react");
  assert.deepEqual(
    [2, 3].map((n) => [nthChange(n, targets, "u", "c", 10).event, nthChange(n, targets, "u", "c", 10).receipt.target]),
    [
      ["edit", "m1"],
      ["react", "m1"],
    ],
  );
});

test("each pass over the targets reacts with the next emoji; each pass over the emoji removes what the last one added", () => {
  const passes = 2 * BENCH_EMOJI.length;
  const reacts = Array.from({ length: passes * targets.length }, (_, i) => nthChange(2 * i + 1, targets, "u", `c${i}`, 10).receipt);
  for (const [i, r] of reacts.entries()) {
    const pass = Math.floor(i / targets.length);
    assert.equal(r.target, targets[i % targets.length]!.id);
    assert.equal(r.emoji, BENCH_EMOJI[pass % BENCH_EMOJI.length]);
    assert.equal(r.on, pass < BENCH_EMOJI.length, `pass ${pass}`);
  }
  assert.throws(() => nthChange(0, [], "u", "c", 10), /no change targets/);
});

test("a change ack is ok with a seq and ts; an error, a duplicate or a malformed ack is a failure", () => {
  assert.deepEqual(parseChangeAck('[{"ok":true,"seq":12,"ts":1700000000000}]'), { seq: 12, ts: 1700000000000 });
  assert.deepEqual(parseChangeAck('[{"ok":true,"seq":12,"ts":1,"duplicate":true}]'), { failure: "DUPLICATE" });
  assert.deepEqual(parseChangeAck('[{"ok":false,"error":{"code":"NOT_FOUND","message":"x"}}]'), { failure: "NOT_FOUND" });
  assert.deepEqual(parseChangeAck('[{"ok":false}]'), { failure: "UNKNOWN" });
  for (const bad of [
    '[{"ok":true}]',
    '[{"ok":true,"seq":0,"ts":1}]',
    '[{"ok":true,"seq":1.5,"ts":1}]',
    '[{"ok":true,"seq":3,"ts":"1"}]',
    "[]",
    "{",
    '"x"',
  ])
    assert.deepEqual(parseChangeAck(bad), { failure: "BAD_ACK" }, bad);
});
