import assert from "node:assert/strict";
import { test } from "node:test";
import { parseEntry, parseReadReply, traceFieldArgs } from "./entries.js";

const message = JSON.stringify({ room: "r", from: "u", clientId: "c", text: "hi", id: "ID", seq: 1, ts: 1 });

test("an entry with a correlation id: payload and traceId", () => {
  const [entry] = parseReadReply([["s:0", [["1-0", ["m", message, "t", "7ZK3M0Q9D2XH"]]]]]);
  assert.deepEqual(entry, { stream: "s:0", id: "1-0", payload: message, traceId: "7ZK3M0Q9D2XH" });
});

test("an entry of the previous version (no correlation id) still parses, without traceId", () => {
  // Written before the field existed: still in the write buffer during a rolling update.
  const entries = parseReadReply([
    [
      "s:0",
      [
        ["1-0", ["m", message]],
        ["2-0", ["m", message, "t", "ABC"]],
      ],
    ],
  ]);
  assert.deepEqual(entries, [
    { stream: "s:0", id: "1-0", payload: message },
    { stream: "s:0", id: "2-0", payload: message, traceId: "ABC" },
  ]);
  assert.equal("traceId" in entries[0]!, false);
});

test("field order does not matter, unknown fields are ignored, an empty id is none", () => {
  assert.deepEqual(parseEntry("s", "1-0", ["t", "X1", "later", "v", "m", message]), {
    stream: "s",
    id: "1-0",
    payload: message,
    traceId: "X1",
  });
  assert.deepEqual(parseEntry("s", "1-0", ["m", message, "t", ""]), { stream: "s", id: "1-0", payload: message });
});

test("an entry deleted while pending (null fields) has neither payload nor traceId", () => {
  assert.deepEqual(parseReadReply([["s", [["1-0", null]]]]), [{ stream: "s", id: "1-0", payload: undefined }]);
  assert.deepEqual(parseReadReply(null), []);
});

test("traceFieldArgs: the field for an XADD when there is an id, nothing otherwise", () => {
  assert.deepEqual(traceFieldArgs("ABC"), ["t", "ABC"]);
  assert.deepEqual(traceFieldArgs(undefined), []);
  assert.deepEqual(traceFieldArgs(""), []);
  // What it writes, parseEntry reads back.
  assert.equal(parseEntry("s", "1-0", ["m", message, ...traceFieldArgs("ABC")]).traceId, "ABC");
});
