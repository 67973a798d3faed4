import assert from "node:assert/strict";
import { test } from "node:test";
import type { Change, Message } from "./protocol.js";
import { RoomState, type Applied } from "./room-state.js";

const message = (seq: number, text = `m${seq}`): Message => ({
  id: `id${seq}`,
  room: "r",
  seq,
  from: "alice",
  clientId: `c${seq}`,
  text,
  ts: 1000 + seq,
});
const change = (seq: number, target: number, fields: Partial<Change>): Change => ({
  room: "r",
  seq,
  ts: 2000 + seq,
  by: "bob",
  clientId: `x${seq}`,
  kind: "edit",
  target: `id${target}`,
  targetSeq: target,
  ...fields,
});

function started(at = 0) {
  const applied: Applied[] = [];
  const state = new RoomState("r", (entry) => applied.push(entry));
  state.start(at);
  return { state, applied };
}

test("entries arriving out of order are applied in seq order, the ones above a gap wait for it", () => {
  const { state, applied } = started();
  assert.equal(state.add({ seq: 3, message: message(3) }), "ahead");
  assert.equal(state.add({ seq: 2, message: message(2) }), "ahead");
  assert.equal(state.hasGap, true);
  assert.equal(applied.length, 0);
  assert.equal(state.add({ seq: 1, message: message(1) }), "applied");
  assert.deepEqual(
    applied.map((entry) => entry.message.seq),
    [1, 2, 3],
  );
  assert.deepEqual(
    state.messages.map((m) => m.seq),
    [1, 2, 3],
  );
  assert.equal(state.lastSeq, 3);
  assert.equal(state.hasGap, false);
});

test("a seq seen before is a duplicate: applied once, whether live, waiting or fetched again", () => {
  const { state, applied } = started();
  state.add({ seq: 1, message: message(1) });
  assert.equal(state.add({ seq: 1, message: message(1) }), "duplicate");
  state.add({ seq: 3, message: message(3) });
  state.add({ seq: 3, message: message(3) });
  state.add({ seq: 2, message: message(2) });
  assert.equal(state.add({ seq: 2, message: message(2) }), "duplicate");
  assert.deepEqual(
    applied.map((entry) => entry.message.seq),
    [1, 2, 3],
  );
  assert.deepEqual(
    state.messages.map((m) => m.seq),
    [1, 2, 3],
  );
});

test("entries before the first join's answer are kept; those above it wait or apply", () => {
  const applied: Applied[] = [];
  const state = new RoomState("r", (entry) => applied.push(entry));
  assert.equal(state.add({ seq: 5, message: message(5) }), "ahead");
  assert.equal(state.add({ seq: 7, message: message(7) }), "ahead");
  state.start(5);
  assert.equal(state.lastSeq, 5);
  assert.deepEqual(
    state.messages.map((m) => m.seq),
    [5],
  );
  assert.equal(state.hasGap, true, "7 waits for 6");
  state.add({ seq: 6, message: message(6) });
  assert.deepEqual(
    applied.map((entry) => entry.message.seq),
    [6, 7],
  );
});

test("changes apply to the message model: edit, delete, reactions; the log seq advances for each", () => {
  const { state, applied } = started();
  state.add({ seq: 1, message: { ...message(1), meta: { a: 1 } } });
  state.add({ seq: 2, message: message(2) });
  state.add({ seq: 3, change: change(3, 1, { kind: "edit", text: "edited" }) });
  assert.equal(state.messages[0]!.text, "edited");
  assert.equal(state.messages[0]!.editedAt, 2003);
  state.add({ seq: 4, change: change(4, 1, { kind: "react", emoji: "👍", on: true, by: "bob" }) });
  state.add({ seq: 5, change: change(5, 1, { kind: "react", emoji: "👍", on: true, by: "bob" }) });
  state.add({ seq: 6, change: change(6, 1, { kind: "react", emoji: "👍", on: true, by: "carol" }) });
  assert.deepEqual(state.messages[0]!.reactions, [{ emoji: "👍", count: 2, users: ["bob", "carol"] }], "adding twice changes nothing");
  state.add({ seq: 7, change: change(7, 1, { kind: "react", emoji: "👍", on: false, by: "bob" }) });
  state.add({ seq: 8, change: change(8, 1, { kind: "react", emoji: "🎉", on: false, by: "bob" }) });
  assert.deepEqual(state.messages[0]!.reactions, [{ emoji: "👍", count: 1, users: ["carol"] }], "removing an absent one changes nothing");
  state.add({ seq: 9, change: change(9, 1, { kind: "delete" }) });
  const tombstone = state.messages[0]!;
  assert.equal(tombstone.deleted, true);
  assert.equal(tombstone.text, "");
  assert.equal(tombstone.meta, undefined);
  assert.equal(state.messages[1]!.text, "m2", "other messages untouched");
  assert.equal(state.lastSeq, 9);
  assert.deepEqual(
    applied.map((entry) => entry.change?.seq ?? entry.message.seq),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
});

test("a change waits for the gap below it, so it never reaches a message not yet there", () => {
  const { state } = started();
  assert.equal(state.add({ seq: 2, change: change(2, 1, { kind: "edit", text: "later" }) }), "ahead");
  state.add({ seq: 1, message: message(1) });
  assert.equal(state.messages[0]!.text, "later");
});

test("older history pages are merged by seq below the window, without duplicates", () => {
  const { state } = started(10);
  state.add({ seq: 11, message: message(11) });
  state.addOlder([message(8), message(10)]);
  state.addOlder([message(9), message(10)]);
  assert.deepEqual(
    state.messages.map((m) => m.seq),
    [8, 9, 10, 11],
  );
  assert.equal(state.oldestSeq, 8);
});

test("skipHole moves past a hole to the next waiting entry", () => {
  const { state } = started();
  state.add({ seq: 1, message: message(1) });
  state.add({ seq: 3, message: message(3) });
  state.skipHole();
  assert.equal(state.lastSeq, 3);
  assert.equal(state.hasGap, false);
});
