import { test } from "node:test";
import assert from "node:assert/strict";
import { ChangeBook, verifyAgainstHistory, verifyView, type Expectation, type MessageState } from "./change-book.js";

/** A random() that returns the given values in turn, then 0.99 (no further change). */
function sequence(...values: number[]): () => number {
  return () => values.shift() ?? 0.99;
}

const expectation = (overrides: Partial<Expectation> = {}): Expectation => ({
  room: "r",
  id: "m1",
  seq: 5,
  text: undefined,
  deleted: false,
  reactions: new Map(),
  ...overrides,
});

test("a deletable message is deleted at a later step, never the one just sent, and is edited no more once deleted", () => {
  const book = new ChangeBook({ editShare: 1, deleteShare: 1, reactShare: 0 }, sequence(0, 0.1));
  assert.equal(book.nextSendDeletable(), true);
  book.ownSent({ room: "r", id: "m1", seq: 1 }, true);
  const first = book.plan();
  assert.deepEqual(
    first.map((c) => c.kind),
    ["edit"],
    "m1 was just sent: edited (editShare 1), not yet deleted",
  );
  book.acknowledged(first[0]!);
  book.ownSent({ room: "r", id: "m2", seq: 3 }, false);
  const second = book.plan();
  const deletion = second.find((c) => c.kind === "delete");
  assert.equal(deletion?.target.id, "m1");
  book.acknowledged(deletion!);
  for (let i = 0; i < 20; i += 1) {
    for (const change of book.plan()) assert.equal(change.target.id, "m2", "a deleted message is not changed again");
  }
  const m1 = book.expected().find((e) => e.id === "m1")!;
  assert.equal(m1.deleted, true);
  assert.match(m1.text!, /edited #1$/);
});

test("reactions go to others' messages that are not marked deletable, and a second one with the same emoji takes it back", () => {
  const book = new ChangeBook({ editShare: 0, deleteShare: 0, reactShare: 1 }, () => 0);
  book.othersReceived({ room: "r", id: "doomed", seq: 1 }, true);
  assert.deepEqual(book.plan(), [], "nothing to react to: the only message will be deleted by its author");
  book.othersReceived({ room: "r", id: "m2", seq: 2 }, false);
  const [on] = book.plan();
  assert.deepEqual(on, { kind: "react", target: { room: "r", id: "m2", seq: 2 }, emoji: "👍", on: true });
  book.acknowledged(on!);
  const [off] = book.plan();
  assert.equal(off?.kind === "react" && off.on, false);
  book.acknowledged(off!);
  assert.deepEqual([...book.expected()[0]!.reactions], [["👍", false]]);
});

test("history must show the last edit's text, a tombstone for a delete, and each reaction's state", () => {
  const view = (overrides: Partial<MessageState>): MessageState => ({ id: "m1", text: "hello", ...overrides });
  assert.deepEqual(verifyView(expectation({ text: "new" }), view({ text: "new", editedAt: 9 }), "u"), {
    verified: 1,
    lost: [],
    unverifiable: 0,
  });
  assert.equal(verifyView(expectation({ text: "new" }), view({ text: "hello" }), "u").lost.length, 1, "an edit dropped");
  assert.equal(verifyView(expectation({ deleted: true }), view({ deleted: true, text: "" }), "u").verified, 1);
  assert.equal(verifyView(expectation({ deleted: true }), view({}), "u").lost.length, 1, "a delete dropped");
  assert.equal(verifyView(expectation({ text: "x" }), undefined, "u").lost.length, 1, "the message itself is missing");

  const reactions = new Map([
    ["👍", true],
    ["🎉", false],
  ]);
  const shown = view({ reactions: [{ emoji: "👍", count: 2, users: ["v", "u"] }] });
  assert.deepEqual(verifyView(expectation({ reactions }), shown, "u"), { verified: 2, lost: [], unverifiable: 0 });
  assert.equal(verifyView(expectation({ reactions }), view({}), "u").lost.length, 1, "a reaction dropped");
  const stillListed = view({
    reactions: [
      { emoji: "👍", count: 1, users: ["u"] },
      { emoji: "🎉", count: 1, users: ["u"] },
    ],
  });
  assert.equal(verifyView(expectation({ reactions }), stillListed, "u").lost.length, 1, "a reaction taken back still shows");
  const crowded = view({ reactions: [{ emoji: "👍", count: 30, users: Array.from({ length: 25 }, (_, i) => `x${i}`) }] });
  assert.deepEqual(verifyView(expectation({ reactions: new Map([["👍", true]]) }), crowded, "u"), {
    verified: 0,
    lost: [],
    unverifiable: 1,
  });
});

test("verification reads each room from its highest changed seq down, a page covering the targets below it", async () => {
  const reads: [string, number][] = [];
  const messages = Array.from({ length: 300 }, (_, i) => ({ id: `m${i + 1}`, seq: i + 1, text: `t${i + 1}`, editedAt: 1 }));
  const read = async (room: string, beforeSeq: number) => {
    reads.push([room, beforeSeq]);
    return room === "r" ? messages.filter((m) => m.seq < beforeSeq).slice(-100) : [];
  };
  const verdict = await verifyAgainstHistory(
    [
      expectation({ id: "m250", seq: 250, text: "t250" }),
      expectation({ id: "m200", seq: 200, text: "t200" }),
      expectation({ id: "m20", seq: 20, text: "changed" }),
      expectation({ room: "other", id: "m7", seq: 7, text: "x" }),
    ],
    read,
    "u",
  );
  assert.deepEqual(reads, [
    ["r", 251],
    ["r", 21],
    ["other", 8],
  ]);
  assert.equal(verdict.verified, 2, "m250 and m200 show their edits");
  assert.deepEqual(verdict.lost, ["m20: edited, but history shows another text", "m7: not in the room's history"]);
});
