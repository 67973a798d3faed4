/**
 * Two SDK clients on different socket nodes chat through the real cluster (Redis adapter
 * fan-out between the nodes): messages in order and once each on both sides, typing,
 * presence, read pointers and unread counts.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { startTestCluster, type TestCluster } from "../fixture.js";
import { assertEveryMessageOnceInOrder, nodeOfUser, sdkUser, until, type SdkUser } from "./sdk.js";

let cluster: TestCluster | undefined;
const users: SdkUser[] = [];
after(async () => {
  for (const user of users) user.client.close();
  await cluster?.stop();
});

test("two SDK clients on two nodes: every message once, in order, on both; typing, presence, unread counts", { timeout: 120_000 }, async () => {
  cluster = await startTestCluster();
  const room = `sdk-chat-${Date.now().toString(36)}`;
  // Each straight to its own node, so every message crosses the Redis adapter to reach the other.
  const alice = sdkUser("alice", cluster.nodeUrl(0), await cluster.token("alice", [room]));
  const bob = sdkUser("bob", cluster.nodeUrl(1), await cluster.token("bob", [room]));
  users.push(alice, bob);
  await Promise.all([alice.client.join(room), bob.client.join(room)]);
  assert.notEqual(nodeOfUser(alice), nodeOfUser(bob), "the two users are on different nodes");

  const typing = new Promise((resolve) => bob.client.on("typing", resolve));
  assert.equal(alice.client.typing(room), true);
  assert.equal(alice.client.typing(room), false, "throttled");
  assert.deepEqual(await typing, { room, user: "alice" });
  assert.deepEqual((await bob.client.presence(room)).sort(), ["alice", "bob"]);

  // Both write at once, without waiting for each other.
  const texts: string[] = [];
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < 15; i += 1) {
    for (const user of [alice, bob]) {
      const text = `${user.name} ${i}`;
      texts.push(text);
      sends.push(user.client.send(room, text));
    }
  }
  await Promise.all(sends);
  await until("both saw all 30", () => alice.received.length === 30 && bob.received.length === 30);
  assertEveryMessageOnceInOrder([alice, bob], room, texts);

  await bob.client.markRead(room, 10);
  const summary = (await bob.client.rooms()).rooms.find((entry) => entry.room === room);
  assert.deepEqual(summary, { room, lastSeq: 30, readSeq: 10, unread: 20 });
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
