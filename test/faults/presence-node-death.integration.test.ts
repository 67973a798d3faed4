/**
 * kill -9 of a socket node: its users are announced offline by the surviving nodes once their
 * presence expires, exactly once per room, and drop out of `presence` answers.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import type { Socket } from "socket.io-client";
import { nextEvent, nodeOf, request, startTestCluster, type TestCluster } from "../fixture.js";

/** Short, so the test waits seconds rather than the default 30 s. */
const PRESENCE_TTL_IN_MS = 1500;

type PresenceEvent = { room: string; user: string; online: boolean };

let cluster: TestCluster;
before(async () => {
  cluster = await startTestCluster({ nodeCount: 3, env: { CHAT_PRESENCE_TTL_MS: String(PRESENCE_TTL_IN_MS) } });
});
after(() => cluster.stop());

/** One client per user, each on a node of its own (the gateway balances handshakes round-robin). */
async function onDistinctNodes(users: string[], room: string): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (const user of users) {
    const token = await cluster.token(user, [room]);
    for (let attempt = 0; ; attempt++) {
      if (attempt === 6) throw new Error(`could not put ${user} on a node of its own`);
      const socket = await cluster.client(token);
      if (!sockets.some((other) => nodeOf(other) === nodeOf(socket))) {
        sockets.push(socket);
        break;
      }
      socket.disconnect();
    }
  }
  return sockets;
}

test(
  "the users of a node killed -9 are announced offline once, by the surviving nodes, after the presence TTL",
  { timeout: 60_000 },
  async () => {
    const tag = randomBytes(4).toString("hex");
    const room = `presence-death-${tag}`;
    const [alice, bob, carol] = ["alice", "bob", "carol"].map((name) => `${name}-${tag}`);
    const [aliceSocket, bobSocket, carolSocket] = await onDistinctNodes([alice!, bob!, carol!], room);
    for (const socket of [bobSocket!, carolSocket!]) assert.equal((await request<{ ok: boolean }>(socket, "join", { room })).ok, true);
    const aliceOnline = nextEvent<PresenceEvent>(bobSocket!, "presence", (event) => event.user === alice && event.online);
    assert.equal((await request<{ ok: boolean }>(aliceSocket!, "join", { room })).ok, true);
    await aliceOnline;

    const offline = new Map<Socket, PresenceEvent[]>();
    for (const socket of [bobSocket!, carolSocket!]) {
      const seen: PresenceEvent[] = [];
      offline.set(socket, seen);
      socket.on("presence", (event: PresenceEvent) => {
        if (!event.online) seen.push(event);
      });
    }
    const victim = cluster.apps.nodes.find((node) => node.process.name === nodeOf(aliceSocket!));
    assert.ok(victim, `no node named ${nodeOf(aliceSocket!)}`);
    await victim.process.kill();
    // The dead node refreshes nothing any more: alice's member in the room's presence set now
    // holds her final expiry (ms since the epoch, this machine's clock, like the nodes').
    const member = `${alice}|${victim.process.name}`;
    const expiresAt = await cluster.redis.zscore(`${cluster.prefix}presence:${room}`, member);
    assert.ok(expiresAt !== null, `alice's presence member ${member} is in the room's presence set after the kill`);

    await nextEvent<PresenceEvent>(bobSocket!, "presence", (event) => event.user === alice && !event.online, 10_000);
    const announcedAt = Date.now();
    // The mechanism, not a timing window: she is announced only once her member has expired.
    assert.ok(announcedAt >= Number(expiresAt), `announced ${Number(expiresAt) - announcedAt} ms before alice's presence expired`);
    // Both surviving nodes sweep this room every TTL/3; give them several sweeps each to
    // announce alice a second time, which the atomic sweep must prevent.
    await sleep(PRESENCE_TTL_IN_MS * 2);
    for (const [socket, events] of offline) {
      assert.deepEqual(
        events,
        [{ room, user: alice, online: false }],
        `${socket === bobSocket ? "bob" : "carol"} should be told once that alice went offline, and of nobody else`,
      );
    }
    const answer = await request<{ ok: boolean; users: string[] }>(bobSocket!, "presence", { room });
    assert.deepEqual(answer.users, [bob, carol].sort());
  },
);
