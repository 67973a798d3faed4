/** Log entries' JSON and message ids: what the scripts write is what the readers decode. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeLogEntry, decodeMessageId, encodeChangeHead, summarizeReactions } from "./change.js";

test("a message id gives back its ts and seq (the append script's layout), and no other string does", () => {
  // base32(1_700_000_000_000, 10) .. base32(7, 6) .. 10 random characters
  assert.deepEqual(decodeMessageId("01HF7YAT00000007ABCDEFGHJK"), { ts: 1_700_000_000_000, seq: 7 });
  assert.equal(decodeMessageId("01HF7YAT00000007ABCDEFGHJ"), undefined, "25 characters");
  assert.equal(decodeMessageId("01HF7YAT00000007ABCDEFGHJU"), undefined, "U is not Crockford");
  assert.equal(decodeMessageId("01HF7YAT00000000ABCDEFGHJK"), undefined, "seq 0 is no message");
});

test("a change's head plus what the script appends decodes back, marks apart", () => {
  const head = encodeChangeHead({ room: "r", by: "u", clientId: "c", kind: "react", target: "T", targetSeq: 3, emoji: "👍", on: false });
  const { entry, noop } = decodeLogEntry(`${head},"seq":9,"ts":100,"noop":true}`);
  assert.deepEqual(entry, {
    room: "r",
    by: "u",
    clientId: "c",
    kind: "react",
    target: "T",
    targetSeq: 3,
    emoji: "👍",
    on: false,
    seq: 9,
    ts: 100,
  });
  assert.equal(noop, true);
  const message = decodeLogEntry(`{"room":"r","from":"u","clientId":"c","text":"t","id":"I","seq":1,"ts":2,"changed":true}`);
  assert.deepEqual(message, { entry: { room: "r", from: "u", clientId: "c", text: "t", id: "I", seq: 1, ts: 2 }, noop: false });
});

test("reactions: exact counts, emoji in order of their first reaction, the first 25 users in reaction order", () => {
  const reactions = Array.from({ length: 30 }, (_, i) => ({ emoji: "👍", user: `u${i}`, seq: 100 - i }));
  reactions.push({ emoji: "🎉", user: "z", seq: 1 });
  const [party, thumbs] = summarizeReactions(reactions);
  assert.deepEqual(party, { emoji: "🎉", count: 1, users: ["z"] });
  assert.equal(thumbs?.count, 30);
  assert.deepEqual(
    thumbs?.users,
    Array.from({ length: 25 }, (_, i) => `u${29 - i}`),
  );
});
