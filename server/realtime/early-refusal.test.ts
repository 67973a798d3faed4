import assert from "node:assert/strict";
import { test } from "node:test";
import type { Principal } from "../chat/principal.js";
import { RefusedTokens, SharedVerifications } from "./early-refusal.js";

const principal = (userId: string, expiresAt = Number.MAX_SAFE_INTEGER) => ({ userId, expiresAt }) as Principal;

test("connections with the same token at the same time share one verification; each gets its own principal object", async () => {
  let calls = 0;
  const gates: (() => void)[] = [];
  let held = true;
  const shared = new SharedVerifications(async (token) => {
    calls += 1;
    if (held) await new Promise<void>((resolve) => gates.push(resolve));
    return principal(String(token));
  });
  const waiting = [shared.principalOf("t1"), shared.principalOf("t1"), shared.principalOf("t2")];
  assert.equal(calls, 2);
  held = false;
  for (const open of gates) open();
  const [a, b, c] = await Promise.all(waiting);
  assert.deepEqual([a!.userId, b!.userId, c!.userId], ["t1", "t1", "t2"]);
  assert.notEqual(a, b);
  assert.equal(shared.size, 0, "nothing kept once verified");
  await shared.principalOf("t1");
  assert.equal(calls, 3, "a later connection verifies again");
});

test("a verification that fails fails for every connection that shared it, and is not kept", async () => {
  let calls = 0;
  const shared = new SharedVerifications(async () => {
    calls += 1;
    throw new Error("bad token");
  });
  const results = await Promise.allSettled([shared.principalOf("bad"), shared.principalOf("bad")]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
  await assert.rejects(shared.principalOf("bad"));
  assert.equal(calls, 2);
  assert.equal(shared.size, 0);
});

test("a refused token is known for ttlInMs, then forgotten", () => {
  const clock = { now: 0 };
  const refused = new RefusedTokens(1000, () => clock.now);
  refused.remember("tok", principal("u"));
  assert.equal(refused.userOf("tok"), "u");
  assert.equal(refused.userOf("other"), undefined);
  clock.now = 999;
  assert.equal(refused.userOf("tok"), "u");
  clock.now = 1000;
  assert.equal(refused.userOf("tok"), undefined);
  assert.equal(refused.size, 0);
});

test("a refused token is never known past its own expiry (the client must then get AUTH_EXPIRED)", () => {
  const clock = { now: 0 };
  const refused = new RefusedTokens(1000, () => clock.now);
  refused.remember("tok", principal("u", 300));
  clock.now = 300;
  assert.equal(refused.userOf("tok"), undefined);
});

test("refused tokens are bounded: the oldest go first, expired ones when a new one comes", () => {
  const clock = { now: 0 };
  const refused = new RefusedTokens(1000, () => clock.now, 3);
  for (const token of ["a", "b", "c", "d"]) refused.remember(token, principal(token));
  assert.deepEqual(
    ["a", "b", "c", "d"].map((token) => refused.userOf(token)),
    [undefined, "b", "c", "d"],
  );
  clock.now = 2000;
  refused.remember("e", principal("e"));
  assert.equal(refused.size, 1);
});
