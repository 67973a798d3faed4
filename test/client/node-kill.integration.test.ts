/**
 * A socket node killed -9 mid-conversation, through the gateway. Both users keep writing while
 * the node is down; the one that was on it writes into its outbox. Once it is back (on the
 * surviving node) it rejoins with `since`, its outbox resends with the same clientIds, and
 * both users end with every message once, in order. Prints the time from losing the node to
 * being caught up again.
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

test(
  "a node killed mid-conversation, sends during the outage: both users end with every message once, in order",
  { timeout: 180_000 },
  async () => {
    cluster = await startTestCluster();
    const room = `sdk-kill-${Date.now().toString(36)}`;
    const alice = sdkUser("alice", cluster.url, await cluster.token("alice", [room]));
    const bob = sdkUser("bob", cluster.url, await cluster.token("bob", [room]));
    users.push(alice, bob);
    await Promise.all([alice.client.join(room), bob.client.join(room)]);
    const texts: string[] = [];
    const say = (user: SdkUser, text: string) => {
      texts.push(text);
      return user.client.send(room, text);
    };

    // Before: a conversation.
    for (let i = 0; i < 10; i += 1) await Promise.all([say(alice, `alice before ${i}`), say(bob, `bob before ${i}`)]);
    await until("both saw the first 20", () => alice.received.length === 20 && bob.received.length === 20);

    // Alice's node dies while both are writing (some of these are in flight when it dies).
    const victimName = nodeOfUser(alice);
    const victim = cluster.apps.nodes.find((node) => node.process.name === victimName);
    assert.ok(victim, `alice is on a known node (${victimName})`);
    const during: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i += 1) during.push(say(alice, `alice in flight ${i}`), say(bob, `bob in flight ${i}`));
    const killedAt = Date.now();
    await victim.process.kill();
    await until("alice noticed", () => alice.client.state !== "connected", 10_000);
    const noticedAt = [...alice.states].reverse().find((entry) => entry.state !== "connected")!.at;
    const syncsBefore = alice.syncedAt.length;
    const errorsBefore = alice.errors.length;
    for (let i = 0; i < 5; i += 1) during.push(say(alice, `alice during ${i}`), say(bob, `bob during ${i}`));

    await until("alice caught up on another node", () => alice.syncedAt.length > syncsBefore, 60_000);
    const caughtUpAt = alice.syncedAt.at(-1)!;
    assert.notEqual(nodeOfUser(alice), victimName, "alice is on the surviving node");
    await Promise.all(during);

    // After: the conversation goes on.
    for (let i = 0; i < 5; i += 1) await Promise.all([say(alice, `alice after ${i}`), say(bob, `bob after ${i}`)]);
    await until(`both saw all ${texts.length}`, () => alice.received.length === texts.length && bob.received.length === texts.length);
    assertEveryMessageOnceInOrder([alice, bob], room, texts);
    assert.equal(alice.client.pending.length, 0);
    console.log(
      `# sdk node kill: reconnect-to-caught-up ${caughtUpAt - noticedAt} ms (kill to caught up ${caughtUpAt - killedAt} ms; ` +
        `alice noticed after ${noticedAt - killedAt} ms, ${alice.errors.length - errorsBefore} refused handshakes before the gateway took the node out); ${texts.length} messages, once each, in order, on both clients`,
    );
  },
);
