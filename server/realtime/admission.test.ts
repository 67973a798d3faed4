import assert from "node:assert/strict";
import { test } from "node:test";
import { ConnectionAdmission, TokenBucket } from "./admission.js";

test("the token bucket gives a burst, then one token per 1/rate s, and says how long to wait", () => {
  let now = 0;
  const bucket = new TokenBucket(4, 4, () => now);
  for (let i = 0; i < 4; i++) assert.deepEqual(bucket.take(), { taken: true });
  assert.deepEqual(bucket.take(), { taken: false, waitInMs: 250 });
  now = 250;
  assert.deepEqual(bucket.take(), { taken: true });
  now = 10_000;
  for (let i = 0; i < 4; i++) assert.deepEqual(bucket.take(), { taken: true }, "refills up to the burst, no more");
  assert.equal(bucket.take().taken, false);
});

test("past maxConnections a newcomer is refused with the configured Retry-After, without taking a rate token", () => {
  let open = 2;
  let now = 0;
  const admission = new ConnectionAdmission(
    { maxConnections: 2, connectRatePerSecond: 1, retryAfterSeconds: 7 },
    () => open,
    () => now,
  );
  assert.deepEqual(admission.admit(), { admitted: false, reason: "max_connections", retryAfterSeconds: 7 });
  open = 1;
  assert.deepEqual(admission.admit(), { admitted: true }, "the refusal above left the one token in the bucket");
  assert.deepEqual(admission.admit(), { admitted: false, reason: "connect_rate", retryAfterSeconds: 1 });
  now = 1000;
  assert.deepEqual(admission.admit(), { admitted: true });
});

test("a rate refusal's Retry-After is the wait for the next token, rounded up to whole seconds", () => {
  const admission = new ConnectionAdmission(
    { maxConnections: 0, connectRatePerSecond: 1, retryAfterSeconds: 5 },
    () => 1e9,
    () => 0,
  );
  assert.deepEqual(admission.admit(), { admitted: true }, "0 connections: no limit");
  const refusal = admission.admit();
  assert.deepEqual(refusal, { admitted: false, reason: "connect_rate", retryAfterSeconds: 1 });
});

test("0 for both: every connection is admitted", () => {
  const admission = new ConnectionAdmission({ maxConnections: 0, connectRatePerSecond: 0, retryAfterSeconds: 5 }, () => 1e9);
  for (let i = 0; i < 1000; i++) assert.deepEqual(admission.admit(), { admitted: true });
});
