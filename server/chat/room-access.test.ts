import assert from "node:assert/strict";
import { test } from "node:test";
import { RoomAccess } from "./room-access.js";

const mayUseRoom = (userId: string, patterns: string[], room: string) => RoomAccess.compile(patterns).allows(userId, room);

test("an exact pattern allows only that room", () => {
  assert.equal(mayUseRoom("alice", ["lobby"], "lobby"), true);
  assert.equal(mayUseRoom("alice", ["lobby"], "lobby2"), false);
});

test("a pattern ending in * allows the prefix", () => {
  assert.equal(mayUseRoom("alice", ["team-7:*"], "team-7:general"), true);
  assert.equal(mayUseRoom("alice", ["team-7:*"], "team-8:general"), false);
  assert.equal(mayUseRoom("alice", ["team-7:*"], "team-7"), false);
  assert.equal(mayUseRoom("alice", ["*"], "anything"), true, "a bare * allows every room");
  assert.equal(mayUseRoom("alice", ["team-7:*", "team-7:general:*", "t*"], "team-7:x"), true, "prefixes of several lengths");
  assert.equal(mayUseRoom("alice", ["team-7:general:*"], "team-7:gen"), false, "a prefix longer than the room");
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

test("a check does not grow with the number of patterns", () => {
  const many = Array.from({ length: 3000 }, (_, i) => `team-${i}:*`).concat(Array.from({ length: 3000 }, (_, i) => `room-${i}`));
  const access = RoomAccess.compile(many);
  assert.equal(access.allows("alice", "team-2999:x"), true);
  assert.equal(access.allows("alice", "room-2999"), true);
  assert.equal(access.allows("alice", "nope"), false);
  // Prefix lengths are what a check walks: 3000 prefixes of 7 to 10 characters are 4 lengths.
  const lengths = (access as unknown as { prefixLengths: number[] }).prefixLengths;
  assert.deepEqual(lengths, [7, 8, 9, 10]);
});
