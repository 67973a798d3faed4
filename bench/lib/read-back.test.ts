import assert from "node:assert/strict";
import { test } from "node:test";
import { FigureRefused } from "./integrity.js";
import type { RedisKey } from "ioredis";
import { RedisKeys } from "../../storage/keys.js";
import { compareRows, deadLetterCount, requireAllRowsStored, type ExpectedRow } from "./read-back.js";

const expected: ExpectedRow[] = [
  { room: "a", seq: 1, id: "a1", ts: 0 },
  { room: "a", seq: 2, id: "a2", ts: 0 },
  { room: "b", seq: 1, id: "b1", ts: 0 },
];

test("every expected row found with its id: the figure stands", () => {
  const found = new Map([
    [
      "a",
      new Map([
        [1, "a1"],
        [2, "a2"],
      ]),
    ],
    ["b", new Map([[1, "b1"]])],
  ]);
  const result = compareRows(expected, found);
  assert.deepEqual(result, { expected: 3, found: 3, missing: 0, wrongId: 0, unexpected: 0, examples: [] });
  requireAllRowsStored("test", result, 0);
});

test("a missing row, a row with another id, or an unexpected row refuses the figure", () => {
  const found = new Map([
    [
      "a",
      new Map([
        [2, "b1"],
        [9, "zz"],
      ]),
    ],
    ["b", new Map([[1, "b1"]])],
  ]);
  const result = compareRows(expected, found);
  assert.deepEqual(result, { expected: 3, found: 1, missing: 1, wrongId: 1, unexpected: 1, examples: ["a/1", "a/2 (other id)"] });
  assert.throws(
    () => requireAllRowsStored("flush test", result, 0),
    (error: unknown) =>
      error instanceof FigureRefused && error.check === "every row read back from Cassandra" && /1 of 3 rows read back/.test(error.message),
  );
});

test("one missing row alone refuses the figure", () => {
  const found = new Map([
    [
      "a",
      new Map([
        [1, "a1"],
        [2, "a2"],
      ]),
    ],
  ]);
  const result = compareRows(expected, found);
  assert.equal(result.missing, 1);
  assert.throws(
    () => requireAllRowsStored("flush test", result, 0),
    (error: unknown) => error instanceof FigureRefused && /2 of 3 rows read back \(1 missing.*b\/1/.test(error.message),
  );
});

test("a dead-lettered entry refuses the figure, naming the dead-letter check", () => {
  const found = new Map([
    [
      "a",
      new Map([
        [1, "a1"],
        [2, "a2"],
      ]),
    ],
  ]);
  assert.throws(
    () => requireAllRowsStored("flush test", compareRows(expected, found), 1),
    (error: unknown) => error instanceof FigureRefused && error.check === "nothing dead-lettered",
  );
});

test("nothing expected is no figure either", () => {
  assert.throws(() => requireAllRowsStored("flush test", compareRows([], new Map()), 0), FigureRefused);
});

test("dead letters are counted on every shard stream's own dead-letter stream, in that shard's hash slot", async () => {
  const keys = new RedisKeys("p:", 16);
  const asked: string[] = [];
  const lengths = new Map([
    [keys.deadLetterStreamOf(keys.stream(0)), 2],
    [keys.deadLetterStreamOf(keys.stream(15)), 1],
  ]);
  const count = await deadLetterCount(
    {
      xlen: async (key: RedisKey) => {
        asked.push(String(key));
        return lengths.get(String(key)) ?? 0;
      },
    },
    keys,
  );
  assert.equal(count, 3);
  assert.deepEqual(
    asked,
    Array.from({ length: 16 }, (_, shard) => `p:{s${shard}}stream:dead-letter`),
  );
});
