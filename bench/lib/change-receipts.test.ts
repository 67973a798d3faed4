import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChangeReceipt, Receipt } from "../load/protocol.js";
import {
  compareChanges,
  finalState,
  messageKey,
  requireChangesStoredOnce,
  requireDistinctChanges,
  type StoredChanges,
} from "./change-receipts.js";
import { CHECKS, FigureRefused } from "./integrity.js";

const sends: Receipt[] = [
  { room: "r", seq: 1, id: "m1", ts: 0 },
  { room: "r", seq: 2, id: "m2", ts: 0 },
];
const edit = (seq: number, target: string, text: string, clientId = `e${seq}`): ChangeReceipt => ({
  room: "r",
  seq,
  ts: 0,
  clientId,
  kind: "edit",
  target,
  by: "u",
  text,
});
const react = (seq: number, target: string, emoji: string, on: boolean, by = "u"): ChangeReceipt => ({
  room: "r",
  seq,
  ts: 0,
  clientId: `r${seq}`,
  kind: "react",
  target,
  by,
  emoji,
  on,
});
// Acked out of seq order on purpose: the final state follows the seqs, not the order acks arrived.
const changes = [
  edit(5, "m1", "second"),
  edit(3, "m1", "first"),
  react(4, "m2", "👍", true),
  react(6, "m2", "🎉", true),
  react(7, "m2", "👍", false),
];

/** What Cassandra holds when every change was stored and projected. */
function storedAsAcked(): StoredChanges {
  return {
    log: new Map([["r", new Map(changes.map((c) => [c.seq, { kind: c.kind, clientId: c.clientId }]))]]),
    texts: new Map([[messageKey("r", "m1"), "second"]]),
    reactions: new Map([
      [messageKey("r", "m2"), new Set(["🎉 u"])],
      [messageKey("r", "m1"), new Set<string>()],
    ]),
  };
}
const refused = (check: string, detail: RegExp) => (error: unknown) =>
  error instanceof FigureRefused && error.check === check && detail.test(error.message);

test("the final state is the last edit's text and the reactions whose last react was on, by seq", () => {
  const state = finalState(changes);
  assert.deepEqual([...state.texts], [[messageKey("r", "m1"), "second"]]);
  assert.deepEqual([...state.reactions], [[messageKey("r", "m2"), new Set(["🎉 u"])]]);
  // Another user's reaction with the same emoji is their own row.
  assert.deepEqual(
    finalState([react(1, "m2", "👍", true, "a"), react(2, "m2", "👍", true, "b"), react(3, "m2", "👍", false, "a")]).reactions.get(
      messageKey("r", "m2"),
    ),
    new Set(["👍 b"]),
  );
});

test("a store that holds every change as acknowledged passes", () => {
  const result = compareChanges(changes, storedAsAcked());
  assert.deepEqual(
    { ...result, examples: [] },
    { expected: 5, found: 5, missing: 0, wrong: 0, unexpected: 0, textsWrong: 0, reactionsWrong: 0, examples: [] },
  );
});

test("a lost change, another entry at its seq, an extra entry, a stale text or reaction are each counted", () => {
  const cases: [string, (s: StoredChanges) => void, Partial<ReturnType<typeof compareChanges>>][] = [
    ["lost", (s) => s.log.get("r")!.delete(6), { missing: 1, found: 4 }],
    ["other clientId", (s) => s.log.get("r")!.set(6, { kind: "react", clientId: "other" }), { wrong: 1, found: 4 }],
    ["other kind", (s) => s.log.get("r")!.set(3, { kind: "delete", clientId: "e3" }), { wrong: 1, found: 4 }],
    ["extra", (s) => s.log.get("r")!.set(9, { kind: "edit", clientId: "x" }), { unexpected: 1 }],
    ["stale text", (s) => s.texts.set(messageKey("r", "m1"), "first"), { textsWrong: 1 }],
    ["no row", (s) => s.texts.set(messageKey("r", "m1"), undefined), { textsWrong: 1 }],
    ["removed reaction still there", (s) => s.reactions.get(messageKey("r", "m2"))!.add("👍 u"), { reactionsWrong: 1 }],
    ["reaction lost", (s) => s.reactions.set(messageKey("r", "m2"), new Set()), { reactionsWrong: 1 }],
  ];
  for (const [name, breakIt, counts] of cases) {
    const stored = storedAsAcked();
    breakIt(stored);
    const result = compareChanges(changes, stored);
    for (const [key, value] of Object.entries(counts)) assert.equal(result[key as keyof typeof result], value, `${name}: ${key}`);
  }
});

test("two acks with one (room, seq), among changes or with a send, or one clientId twice, or no change refuse", () => {
  requireDistinctChanges("w", changes, sends);
  assert.throws(
    () => requireDistinctChanges("w", [...changes, react(6, "m1", "👀", true)], sends),
    refused(CHECKS.changesStored, /1 gave a \(room, seq\)/),
  );
  assert.throws(() => requireDistinctChanges("w", [edit(2, "m1", "x")], sends), refused(CHECKS.changesStored, /r\/2/));
  assert.throws(
    () => requireDistinctChanges("w", [edit(8, "m1", "x", "same"), edit(9, "m1", "y", "same")], sends),
    refused(CHECKS.changesStored, /1 a clientId/),
  );
  assert.throws(() => requireDistinctChanges("w", [], sends), refused(CHECKS.changesStored, /no acknowledged change/));
});

function options(reads: StoredChanges[], deadLettered = 0) {
  let count = 0;
  return {
    where: "changes test",
    changes,
    sends,
    read: async () => reads[Math.min(count++, reads.length - 1)]!,
    deadLettered: async () => deadLettered,
    timeoutInMs: 200,
    pollEveryInMs: 5,
    reads: () => count,
  };
}

test("the read-back waits for the flusher, then refuses what is still missing, wrong or dead-lettered", async () => {
  const lagging = storedAsAcked();
  lagging.log.get("r")!.delete(7);
  lagging.reactions.set(messageKey("r", "m2"), new Set(["🎉 u", "👍 u"]));
  const waited = options([lagging, lagging, storedAsAcked()]);
  assert.equal((await requireChangesStoredOnce(waited)).found, 5);
  assert.equal(waited.reads(), 3);

  await assert.rejects(
    requireChangesStoredOnce(options([lagging])),
    refused(CHECKS.changesStored, /4 of 5 changes in room_log \(1 missing/),
  );
  const unprojected = storedAsAcked();
  unprojected.texts.set(messageKey("r", "m1"), "original");
  await assert.rejects(
    requireChangesStoredOnce(options([unprojected])),
    refused(CHECKS.changesStored, /1 edited messages with another text/),
  );
  // A wrong row does not go away by waiting: refused at the first read.
  const wrong = storedAsAcked();
  wrong.log.get("r")!.set(5, { kind: "edit", clientId: "someone else" });
  const once = options([wrong, storedAsAcked()]);
  await assert.rejects(requireChangesStoredOnce(once), refused(CHECKS.changesStored, /1 with another kind or clientId/));
  assert.equal(once.reads(), 1);
  await assert.rejects(requireChangesStoredOnce(options([storedAsAcked()], 2)), refused(CHECKS.deadLetter, /2 entries/));
});
