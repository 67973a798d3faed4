import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, parseRetryAfter } from "./backoff.js";
import { ChatError, errorFromBody } from "./errors.js";

test("delays grow exponentially, stay within [ceiling/2, ceiling], cap at the maximum, and reset", () => {
  const low = new Backoff({ initialDelayInMs: 100, maxDelayInMs: 1000, random: () => 0 });
  const high = new Backoff({ initialDelayInMs: 100, maxDelayInMs: 1000, random: () => 0.999999 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => low.next()),
    [50, 100, 200, 400, 500, 500],
  );
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => high.next()),
    [100, 200, 400, 800, 1000, 1000],
  );
  low.reset();
  assert.equal(low.next(), 50);
});

test("jitter spreads clients: the same attempt gives different delays", () => {
  const delays = new Set(Array.from({ length: 20 }, () => new Backoff({ initialDelayInMs: 1000 }).next()));
  assert.ok(delays.size > 10, `only ${delays.size} distinct delays`);
});

test("a server hint is a floor, plus at most 10 % jitter", () => {
  const backoff = new Backoff({ initialDelayInMs: 100, random: () => 0.5 });
  assert.equal(backoff.next(5000), 5250);
  assert.equal(backoff.next(10), 150, "a hint shorter than the backoff does not shorten it");
  for (let i = 0; i < 50; i += 1) {
    const delay = new Backoff({ initialDelayInMs: 10 }).next(2000);
    assert.ok(delay >= 2000 && delay <= 2200, String(delay));
  }
});

test("Retry-After in seconds or as an HTTP date", () => {
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
});

test("errors carry the protocol's code, retryAfterMs and whether to retry", () => {
  const limited = errorFromBody({ code: "RATE_LIMITED", message: "slow down", retryAfterMs: 250 });
  assert.ok(limited instanceof ChatError);
  assert.equal(limited.code, "RATE_LIMITED");
  assert.equal(limited.retryAfterMs, 250);
  assert.equal(limited.retryable, true);
  assert.equal(errorFromBody({ code: "FORBIDDEN", message: "no" }).retryable, false);
  assert.equal(errorFromBody({ code: "TOO_LARGE", message: "no" }).retryable, false);
  const unknown = errorFromBody({ code: "SOMETHING_NEW", message: "?" });
  assert.equal(unknown.code, "INTERNAL");
  assert.equal(errorFromBody(undefined).code, "INTERNAL");
});
