/**
 * Two SDK clients on different socket nodes chat through the real cluster (Redis adapter
 * fan-out between the nodes): messages in order and once each on both sides, typing,
 * presence, read pointers and unread counts.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ChatClient } from "../../client/client.js";
import { socketIoTransport } from "../../client/socketio-transport.js";
import { startTestCluster, type TestCluster } from "../fixture.js";
import { assertEveryMessageOnceInOrder, nodeOfUser, sdkUser, until, type SdkUser } from "./sdk.js";

let cluster: TestCluster;
const users: SdkUser[] = [];
before(async () => {
  cluster = await startTestCluster();
});
after(async () => {
  for (const user of users) user.client.close();
  await cluster?.stop();
});

test(
  "two SDK clients on two nodes: every message once, in order, on both; typing, presence, unread counts",
  { timeout: 120_000 },
  async () => {
    const room = `sdk-chat-${Date.now().toString(36)}`;
    // Each straight to its own node, so every message crosses the Redis adapter to reach the other.
    const alice = sdkUser("alice", cluster.nodeUrl(0), await cluster.token("alice", [room]));
    // Bob starts on HTTP long-polling and upgrades, as a browser does.
    const bob = sdkUser("bob", cluster.nodeUrl(1), await cluster.token("bob", [room]), { transports: ["polling", "websocket"] });
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
  },
);

test(
  "tokens: an expired one is refused and the provider asked again; short-lived ones are replaced as they run out, nothing missed",
  { timeout: 60_000 },
  async () => {
    const room = `sdk-token-${Date.now().toString(36)}`;
    const bob = sdkUser("bob", cluster.url, await cluster.token("bob", [room]));
    users.push(bob);
    // First an expired token, then tokens that live 3 s: the client must refresh ahead of each expiry.
    let calls = 0;
    const provider = () => cluster.token("carol", [room], { ttlInSeconds: calls++ === 0 ? -60 : 3 });
    const carol = new ChatClient({
      token: provider,
      transport: socketIoTransport(cluster.url, { transports: ["websocket"] }),
      backoff: { initialDelayInMs: 100 },
    });
    const reasons: string[] = [];
    carol.on("error", (error) => reasons.push(`${error.code}/${error.reason}`));
    const seen: number[] = [];
    carol.on("message", (message) => seen.push(message.seq));
    carol.connect();
    await carol.join(room);
    assert.deepEqual(reasons, ["UNAUTHORIZED/AUTH_EXPIRED"]);
    await bob.client.join(room);
    // Six seconds of messages: two token lifetimes, every one reaches carol once, in order.
    for (let i = 0; i < 12; i += 1) {
      await bob.client.send(room, `tick ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await until("carol saw all 12", () => seen.length === 12, 10_000);
    carol.close();
    assert.deepEqual(
      seen,
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    assert.ok(calls >= 3, `the provider was asked ${calls} times`);
    assert.deepEqual(
      reasons,
      ["UNAUTHORIZED/AUTH_EXPIRED"],
      "no refusal after the first: each token was replaced before the server refused it",
    );
  },
);
