import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_REDIS_MAXMEMORY, memoryArgs } from "./redis.js";

test("Redis is capped with a policy that never evicts buffered messages", () => {
  assert.deepEqual(memoryArgs("512MB"), ["--maxmemory", "512mb", "--maxmemory-policy", "noeviction"]);
  assert.deepEqual(memoryArgs("1048576"), ["--maxmemory", "1048576", "--maxmemory-policy", "noeviction"]);
  assert.equal(memoryArgs(DEFAULT_REDIS_MAXMEMORY)[1], DEFAULT_REDIS_MAXMEMORY);
});

test("a malformed CHAT_REDIS_MAXMEMORY stops the start, naming its key", () => {
  for (const bad of ["", "lots", "2 g b", "-1gb", "1.5gb"]) assert.throws(() => memoryArgs(bad), /CHAT_REDIS_MAXMEMORY/, bad);
});
