/** The receipt rows the flusher writes with each entry (receipts.ts): TTLs from the entry's ts, scopes, none past the TTL. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatChange } from "../change.js";
import type { ChatMessage } from "../message.js";
import { receiptStatements } from "./receipts.js";

const DAY = 24 * 60 * 60 * 1000;
const NOW = 1_750_000_000_000;
const message: ChatMessage = {
  id: "01HF7YAT00000007ABCDEFGHJK",
  room: "r",
  seq: 7,
  from: "alice",
  clientId: "c1",
  text: "hi",
  ts: NOW - 1500,
};
const change: ChatChange = {
  room: "r",
  seq: 8,
  ts: NOW - 60_000,
  by: "bob",
  clientId: "c1",
  kind: "edit",
  target: message.id,
  targetSeq: 7,
  text: "x",
};

test("a message's receipt: its id, seq and ts, scope send, TTL ending a day after its ts (rounded up to the second)", () => {
  const [statement] = receiptStatements([message], DAY, NOW);
  assert.deepEqual(statement!.params, ["alice", "r", "c1", "send", message.id, 7, new Date(message.ts), Math.ceil((DAY - 1500) / 1000)]);
  assert.equal(statement!.partition, "k|alice|r");
});

test("a change's receipt: scope change, no id (unset, not null), by its author", () => {
  const [statement] = receiptStatements([change], DAY, NOW);
  assert.deepEqual(statement!.params, ["bob", "r", "c1", "change", undefined, 8, new Date(change.ts), (DAY - 60_000) / 1000]);
});

test("an entry flushed after its receipt's time is over writes no receipt", () => {
  assert.equal(receiptStatements([{ ...message, ts: NOW - DAY }], DAY, NOW).length, 0);
  assert.equal(receiptStatements([{ ...message, ts: NOW - DAY + 1 }], DAY, NOW).length, 1, "1 ms left: a TTL of 1 s");
});
