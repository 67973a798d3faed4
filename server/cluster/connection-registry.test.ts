/**
 * The per-user connection cap against a fake Redis that runs the acquire script's logic in
 * JavaScript (the script itself runs against a real Redis in test/limits/caps.integration.test.ts).
 * What these guard: the refusals without Redis (issue 17) never refuse a user under the cap, and
 * the memory of a refusal expires and is dropped when one of the user's connections closes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RedisClient } from "../../storage/redis-client.js";
import { RedisKeys } from "../../storage/keys.js";
import { ConnectionRegistry } from "./connection-registry.js";

const LIMIT = 3;
const TTL_MS = 30_000;
const MEMORY_MS = 1000;

/** The user's connections hashes, the script's logic, and how many times the script ran. */
class FakeRedis {
  readonly hashes = new Map<string, Map<string, string>>();
  scripts = 0;
  down = false;

  defineCommand(name: string): void {
    Object.assign(this, {
      [name]: async (key: string, node: string, count: number, now: number, expiry: number, limit: number) => {
        this.scripts += 1;
        if (this.down) throw new Error("connection refused");
        const hash = this.hash(key);
        let others = 0;
        for (const [field, value] of hash) {
          if (field === node) continue;
          const [held, until] = value.split("|").map(Number);
          if (until! > now) others += held!;
          else hash.delete(field);
        }
        if (others + count > limit) return 0;
        hash.set(node, `${count}|${expiry}`);
        return 1;
      },
    });
  }
  async hset(key: string, field: string, value: string): Promise<number> {
    if (this.down) throw new Error("connection refused");
    this.hash(key).set(field, value);
    return 1;
  }
  async hdel(key: string, field: string): Promise<number> {
    if (this.down) throw new Error("connection refused");
    return this.hash(key).delete(field) ? 1 : 0;
  }
  async pexpire(): Promise<number> {
    return 1;
  }
  hash(key: string): Map<string, string> {
    let hash = this.hashes.get(key);
    if (!hash) this.hashes.set(key, (hash = new Map()));
    return hash;
  }
}

function setup() {
  const redis = new FakeRedis();
  const keys = new RedisKeys("t", 4);
  const clock = { now: 1_000_000 };
  const errors: string[] = [];
  const registry = new ConnectionRegistry(redis as unknown as RedisClient, keys, {
    nodeName: "n1",
    limit: LIMIT,
    ttlInMs: TTL_MS,
    atCapMemoryMs: MEMORY_MS,
    now: () => clock.now,
    onError: (_error, what) => errors.push(what),
  });
  /** Another node's count of `user`, as its own writes would have left it. */
  const otherNode = (user: string, count: number, expiry = clock.now + TTL_MS) =>
    count === 0
      ? redis.hash(keys.userConnections(user)).delete("n2")
      : redis.hash(keys.userConnections(user)).set("n2", `${count}|${expiry}`);
  return { redis, registry, clock, errors, otherNode };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test("a user under the cap gets every connection up to it; the one past it is refused, and a release lets the next one in", async () => {
  const { registry, redis } = setup();
  for (let i = 0; i < LIMIT; i++) assert.equal(await registry.acquire("u"), true, `connection ${i + 1}`);
  assert.equal(await registry.acquire("u"), false);
  registry.release("u");
  assert.equal(registry.refusesAtOnce("u"), false);
  assert.equal(await registry.acquire("u"), true);
  assert.equal(redis.scripts, LIMIT + 1, "the one past the cap is refused by this node's own count, without the script");
});

test("this node's own count at the limit refuses without the script, concurrent reservations included", async () => {
  const { registry, redis } = setup();
  const attempts = await Promise.all(Array.from({ length: 10 }, () => registry.acquire("burst")));
  assert.equal(attempts.filter(Boolean).length, LIMIT);
  assert.equal(redis.scripts, LIMIT, "only the reservations within the limit ran the script");
  assert.equal(registry.refusesAtOnce("burst"), true);
  assert.equal(registry.refusesAtOnce("someone else"), false);
});

test("a refusal by the script is remembered for atCapMemoryMs, not longer, however often the user retries", async () => {
  const { registry, redis, clock, otherNode } = setup();
  otherNode("busy", LIMIT);
  assert.equal(await registry.acquire("busy"), false);
  assert.equal(redis.scripts, 1);
  for (let t = 0; t < MEMORY_MS; t += 100) {
    assert.equal(registry.refusesAtOnce("busy"), true, `at +${t} ms`);
    assert.equal(await registry.acquire("busy"), false);
    clock.now += 100;
  }
  assert.equal(redis.scripts, 1, "retries within the memory did not run the script");
  assert.equal(registry.refusesAtOnce("busy"), false, "the memory expired although the user kept retrying");
  // The other node's connection closed meanwhile: the user is under the cap and gets in.
  otherNode("busy", LIMIT - 1);
  assert.equal(await registry.acquire("busy"), true);
  assert.equal(redis.scripts, 2);
});

test("the memory is dropped at once when one of the user's connections on this node closes", async () => {
  const { registry, otherNode } = setup();
  assert.equal(await registry.acquire("mixed"), true);
  otherNode("mixed", LIMIT - 1);
  assert.equal(await registry.acquire("mixed"), false);
  assert.equal(registry.refusesAtOnce("mixed"), true);
  registry.release("mixed");
  await flush();
  assert.equal(registry.refusesAtOnce("mixed"), false);
  assert.equal(await registry.acquire("mixed"), true, "one below the cap after the close: let in without waiting for the memory to expire");
});

test("a dead node's counts stop counting when they expire: its users are not locked out", async () => {
  const { registry, clock, otherNode } = setup();
  otherNode("orphan", LIMIT, clock.now + 5000);
  assert.equal(await registry.acquire("orphan"), false);
  clock.now += 5001;
  assert.equal(registry.refusesAtOnce("orphan"), false, "the memory is shorter than the counts' expiry");
  assert.equal(await registry.acquire("orphan"), true);
});

test("Redis unreachable: connections are let in (and reported) up to this node's own count of the limit", async () => {
  const { registry, redis, errors } = setup();
  redis.down = true;
  for (let i = 0; i < LIMIT; i++) assert.equal(await registry.acquire("offline"), true);
  assert.equal(await registry.acquire("offline"), false, "this node alone holds the limit: refused without Redis");
  assert.equal(errors.includes("connection count"), true);
});

test("with atCapMemoryMs 0 nothing is remembered: every retry asks the script", async () => {
  const redis = new FakeRedis();
  const keys = new RedisKeys("t", 4);
  const registry = new ConnectionRegistry(redis as unknown as RedisClient, keys, {
    nodeName: "n1",
    limit: 1,
    ttlInMs: TTL_MS,
    atCapMemoryMs: 0,
    onError: () => undefined,
  });
  redis.hash(keys.userConnections("u")).set("n2", `1|${Date.now() + TTL_MS}`);
  assert.equal(await registry.acquire("u"), false);
  assert.equal(registry.refusesAtOnce("u"), false);
  assert.equal(await registry.acquire("u"), false);
  assert.equal(redis.scripts, 2);
});
