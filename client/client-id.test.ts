/** The SDK's UUIDv7 clientIds: RFC 9562 layout, the time in the first 48 bits, random elsewhere. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { uuidV7 } from "./client-id.js";

const LAYOUT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("the first 48 bits are the ms timestamp, big-endian, then version 7 and variant 10", () => {
  const id = uuidV7(0x0190_b7e2_5c3a, new Uint8Array(10).fill(0xff));
  assert.equal(id, "0190b7e2-5c3a-7fff-bfff-ffffffffffff");
  assert.equal(uuidV7(0, new Uint8Array(10)), "00000000-0000-7000-8000-000000000000");
  // The largest 48-bit time: the high bits do not overflow into the version.
  assert.equal(uuidV7(2 ** 48 - 1, new Uint8Array(10)), "ffffffff-ffff-7000-8000-000000000000");
});

test("ids made now match the layout, carry now, and differ from each other", () => {
  const before = Date.now();
  const ids = Array.from({ length: 1000 }, () => uuidV7());
  const after = Date.now();
  for (const id of ids) {
    assert.match(id, LAYOUT);
    const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    assert.ok(ms >= before && ms <= after, `${id} carries ${ms}, not between ${before} and ${after}`);
  }
  assert.equal(new Set(ids).size, ids.length);
});
