import assert from "node:assert/strict";
import { test } from "node:test";
import { ExpiryWheel } from "./expiry.js";

/** A wheel on a clock the test moves by hand (its timer is stopped at the end). */
function wheelAt(startInMs: number) {
  let now = startInMs;
  const expired: string[] = [];
  const wheel = new ExpiryWheel<string>(
    (item) => expired.push(item),
    () => now,
  );
  return { wheel, expired, setNow: (ms: number) => (now = ms) };
}

test("items expire once their expiry has passed, never before, in one pass per due second", () => {
  const { wheel, expired, setNow } = wheelAt(1_000_000);
  wheel.add("a", 1_002_000);
  wheel.add("b", 1_002_400);
  wheel.add("c", 1_005_000);
  assert.equal(wheel.size, 3);
  wheel.expireDue(1_001_999);
  assert.deepEqual(expired, []);
  wheel.expireDue(1_002_000);
  assert.deepEqual(expired, ["a"]);
  // "b" is due at 1 002 400: it must not go at 1 002 399 even though its second has begun.
  wheel.expireDue(1_002_399);
  assert.deepEqual(expired, ["a"]);
  setNow(1_003_000);
  wheel.expireDue();
  assert.deepEqual(expired, ["a", "b"]);
  assert.equal(wheel.size, 1);
  wheel.expireDue(1_010_000);
  assert.deepEqual(expired, ["a", "b", "c"]);
  assert.equal(wheel.size, 0);
  wheel.stop();
});

test("a removed item never expires, and removal of an unknown item changes nothing", () => {
  const { wheel, expired } = wheelAt(1_000_000);
  wheel.add("a", 1_002_000);
  wheel.add("b", 1_002_000);
  wheel.remove("a", 1_002_000);
  wheel.remove("zz", 1_002_000);
  wheel.remove("b", 1_009_000);
  assert.equal(wheel.size, 1);
  wheel.expireDue(1_003_000);
  assert.deepEqual(expired, ["b"]);
  wheel.stop();
});

test("an item added already expired, or after the clock stepped back, still expires", () => {
  const { wheel, expired, setNow } = wheelAt(1_000_000);
  wheel.expireDue(1_010_000);
  // Added with an expiry in a second the wheel has already passed.
  wheel.add("late", 1_004_000);
  wheel.expireDue(1_010_000);
  assert.deepEqual(expired, ["late"]);
  // The clock steps back 60 s: an item expiring at the new "now + 1 s" is not lost.
  setNow(950_000);
  wheel.add("after-step", 951_000);
  wheel.expireDue(950_999);
  assert.deepEqual(expired, ["late"]);
  wheel.expireDue(951_000);
  assert.deepEqual(expired, ["late", "after-step"]);
  wheel.stop();
});

test("a long stall expires everything due, however many seconds passed", () => {
  const { wheel, expired } = wheelAt(0);
  for (let i = 1; i <= 5; i++) wheel.add(`s${i}`, i * 3_600_000);
  wheel.expireDue(4 * 3_600_000);
  assert.deepEqual(expired, ["s1", "s2", "s3", "s4"]);
  wheel.expireDue(365 * 24 * 3_600_000);
  assert.deepEqual(expired, ["s1", "s2", "s3", "s4", "s5"]);
  wheel.stop();
});

test("on the real clock, an item expires within a second after its expiry", async () => {
  const expiresAt = Date.now() + 1_200;
  // The wheel's timer is unref'd (a server's sockets keep its process alive): hold the test open.
  const keepAlive = setTimeout(() => undefined, 5_000);
  const firedAt = await new Promise<number>((resolve) => new ExpiryWheel<string>(() => resolve(Date.now())).add("session", expiresAt));
  clearTimeout(keepAlive);
  assert.ok(firedAt >= expiresAt, `expired ${expiresAt - firedAt} ms early`);
  assert.ok(firedAt < expiresAt + 1_000, `expired ${firedAt - expiresAt} ms late`);
});
