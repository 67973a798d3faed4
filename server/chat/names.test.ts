import assert from "node:assert/strict";
import { test } from "node:test";
import { mayUseRoom } from "./names.js";

test("an exact pattern allows only that room", () => {
  assert.equal(mayUseRoom("alice", ["lobby"], "lobby"), true);
  assert.equal(mayUseRoom("alice", ["lobby"], "lobby2"), false);
});

test("a pattern ending in * allows the prefix", () => {
  assert.equal(mayUseRoom("alice", ["team-7:*"], "team-7:general"), true);
  assert.equal(mayUseRoom("alice", ["team-7:*"], "team-8:general"), false);
  assert.equal(mayUseRoom("alice", ["team-7:*"], "team-7"), false);
});

test("a DM room is allowed to its two users only, and only in byte order", () => {
  assert.equal(mayUseRoom("alice", [], "dm:alice:bob"), true);
  assert.equal(mayUseRoom("bob", [], "dm:alice:bob"), true);
  assert.equal(mayUseRoom("carol", [], "dm:alice:bob"), false);
  assert.equal(mayUseRoom("alice", [], "dm:bob:alice"), false, "a > b is not a valid DM room");
  assert.equal(mayUseRoom("alice", [], "dm:alice:alice"), false);
  assert.equal(mayUseRoom("alice", [], "dm:alice:bob:x"), false);
  assert.equal(mayUseRoom("Bob", [], "dm:Bob:alice"), true, "uppercase sorts before lowercase in byte order");
});

test("no claim and no DM room: forbidden", () => {
  assert.equal(mayUseRoom("alice", [], "lobby"), false);
});
