import assert from "node:assert/strict";
import { test } from "node:test";
import { TypingThrottle } from "./typing-throttle.js";

test("one typing per user and room per interval; other users and rooms are independent", () => {
  const clock = { now: 0 };
  const throttle = new TypingThrottle(2000, () => clock.now);
  assert.equal(throttle.allow("alice", "lobby"), true);
  assert.equal(throttle.allow("alice", "lobby"), false);
  assert.equal(throttle.allow("alice", "other"), true);
  assert.equal(throttle.allow("bob", "lobby"), true);
  clock.now = 1999;
  assert.equal(throttle.allow("alice", "lobby"), false);
  clock.now = 2000;
  assert.equal(throttle.allow("alice", "lobby"), true);
  // 18,000 attempts over 9 s: 5 delivered (at 2 s, 4 s, 6 s, 8 s and the first).
  let delivered = 0;
  for (let ms = 0; ms < 9000; ms += 0.5) {
    clock.now = 10_000 + ms;
    if (throttle.allow("mallory", "lobby")) delivered += 1;
  }
  assert.equal(delivered, 5);
});

test("memory holds only the pairs of the last two intervals", () => {
  const clock = { now: 0 };
  const throttle = new TypingThrottle(2000, () => clock.now);
  for (let i = 0; i < 1000; i++) throttle.allow(`user-${i}`, "lobby");
  clock.now = 2000;
  throttle.allow("alice", "lobby");
  assert.equal(throttle.size, 1001);
  clock.now = 4000;
  throttle.allow("alice", "lobby");
  assert.equal(throttle.size, 2, "the first interval's pairs are gone");
});
