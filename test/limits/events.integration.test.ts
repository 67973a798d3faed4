/**
 * The event limits on a real 2-node cluster through the gateway (docs/protocol.md v1.1 "Limits"):
 * one budget per user across both nodes, REST requests charged to it, the flood disconnect,
 * the typing throttle, events over 64 KB and the authentication timeout. Limits are set low
 * (20 events/s, bursts of 20, flood window 2 s) so each behaviour shows within seconds.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { Manager, type Socket } from "socket.io-client";
import { eventually, nextEvent, nodeOf, request, startTestCluster, type TestCluster } from "../fixture.js";
import { clientOnOtherNode, uniqueTag } from "../protocol/helpers.js";

const EVENTS_PER_SECOND = 20;
const EVENT_BURST = 20;
const AUTH_TIMEOUT_IN_MS = 1500;

type Reply = { ok: boolean; error?: { code: string; message: string; retryAfterMs?: number } };

let cluster: TestCluster;
const tag = uniqueTag();

before(async () => {
  cluster = await startTestCluster({
    env: {
      CHAT_EVENTS_PER_SECOND: String(EVENTS_PER_SECOND),
      CHAT_EVENT_BURST: String(EVENT_BURST),
      CHAT_FLOOD_DISCONNECT_MS: "2000",
      CHAT_AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_IN_MS),
    },
  });
});
after(async () => cluster.stop());

/** Emits `event` every `everyMs` on each socket for `forMs`, and collects the acks. */
async function hammer(sockets: Socket[], event: string, payload: unknown, everyMs: number, forMs: number): Promise<Reply[]> {
  const replies: Promise<Reply>[] = [];
  const deadline = Date.now() + forMs;
  while (Date.now() < deadline) {
    for (const socket of sockets) replies.push(request<Reply>(socket, event, payload));
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return Promise.all(replies);
}

test("one user's events are limited cluster-wide: two nodes together grant about the limit, not twice it", async () => {
  const user = `hammer-${tag}`;
  const token = await cluster.token(user, [`lim-${tag}:*`]);
  const first = await cluster.client(token);
  const second = await clientOnOtherNode(cluster, token, first);
  assert.notEqual(nodeOf(first), nodeOf(second));
  const seconds = 3;
  const replies = await hammer([first, second], "presence", { room: `lim-${tag}:a` }, 10, seconds * 1000);
  const granted = replies.filter((reply) => reply.ok).length;
  const refused = replies.filter((reply) => reply.error?.code === "RATE_LIMITED");
  assert.equal(granted + refused.length, replies.length, "every ack is ok or RATE_LIMITED");
  // Each node alone would grant burst + rate × time (80); unsynced, two nodes would grant 160.
  const bound = EVENTS_PER_SECOND * seconds + 2 * EVENT_BURST + EVENTS_PER_SECOND; // + one period and a round trip of lag
  assert.ok(granted <= bound, `granted ${granted} of ${replies.length} across both nodes in ${seconds} s, bound ${bound}`);
  assert.ok(granted >= EVENTS_PER_SECOND * seconds, `granted ${granted}: stricter than the limit`);
  assert.ok(
    refused.every((reply) => (reply.error?.retryAfterMs ?? 0) > 0),
    "RATE_LIMITED carries retryAfterMs",
  );
  // The cluster-wide counter holds exactly what was granted, once both nodes have synced.
  await eventually("the budget counter", async () => {
    const total = Number(await cluster.redis.get(`${cluster.prefix}budget:${user}`));
    return total === granted ? total : undefined;
  });
  console.log(
    `# budget: ${granted} of ${replies.length} presence events granted over 2 nodes in ${seconds} s (limit ${EVENTS_PER_SECOND}/s, burst ${EVENT_BURST})`,
  );
});

test("REST requests draw on the same budget: 429 RATE_LIMITED with retryAfterMs past it", async () => {
  const token = await cluster.token(`rest-${tag}`);
  // At once: each of the two nodes grants at most its burst plus what refills meanwhile.
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 70 }, () => cluster.http("/api/me/rooms", { token })));
  const seconds = (Date.now() - started) / 1000;
  const limited = answers.filter((answer) => answer.status === 429);
  const bound = 2 * (EVENT_BURST + EVENTS_PER_SECOND * seconds);
  assert.ok(
    limited.length > 0 && answers.length - limited.length <= bound,
    `${limited.length} of ${answers.length} answered 429 in ${seconds} s (at most ${bound} may pass)`,
  );
  assert.equal(limited[0]!.body.error.code, "RATE_LIMITED");
  assert.ok(limited[0]!.body.error.retryAfterMs > 0);
  assert.ok(answers.every((answer) => answer.status === 200 || answer.status === 429));
});

test("a socket that keeps going at 10x the limit is told RATE_LIMITED, disconnected and logged; the user's other socket stays", async () => {
  const user = `flooder-${tag}`;
  const token = await cluster.token(user);
  const flooder = await cluster.client(token);
  const calm = await cluster.client(token);
  let calmDropped = false;
  calm.once("disconnect", () => (calmDropped = true));
  const closing = nextEvent<{ code: string }>(flooder, "closing", () => true, 8000);
  const disconnected = new Promise<string>((resolve) => flooder.once("disconnect", resolve));
  // 250 events/s (10 × 20 is 200) as unknown events: charged like any, no storage behind them.
  const timer = setInterval(() => {
    for (let i = 0; i < 5; i++) flooder.emit("ping-flood", {});
  }, 20);
  try {
    assert.equal((await closing).code, "RATE_LIMITED");
    assert.equal(await disconnected, "io server disconnect");
  } finally {
    clearInterval(timer);
  }
  assert.equal(calmDropped, false);
  // The node writes the line before it disconnects the socket, but it reaches the log file
  // through the node's stdout pipe and this process: it may land after the client saw the
  // disconnect (CI read the file too early once).
  const line = await eventually(
    "the disconnect is logged with its user",
    async () => {
      const logs = await Promise.all(cluster.apps.nodes.map((node) => readFile(node.process.logFile, "utf8")));
      return logs
        .join("\n")
        .split("\n")
        .find((entry) => entry.includes("kept sending at 10x") && entry.includes(user));
    },
    5000,
  );
  assert.match(line, /"reason":"RATE_LIMITED"/);
});

test("typing reaches the room at most once per 2 s per user and room; the extra ones are acknowledged and dropped", async () => {
  const room = `lim-${tag}:typing`;
  const typer = await cluster.client(await cluster.token(`typer-${tag}`, [room]));
  const watcherToken = await cluster.token(`watcher-${tag}`, [room]);
  const watchers = [await cluster.client(watcherToken), await clientOnOtherNode(cluster, watcherToken, typer)];
  for (const socket of [typer, ...watchers]) assert.equal((await request<Reply>(socket, "join", { room })).ok, true);
  const seen = watchers.map((watcher) => {
    const typings: unknown[] = [];
    watcher.on("typing", (value) => typings.push(value));
    return typings;
  });
  const burst = async (n: number) => {
    const replies = await Promise.all(Array.from({ length: n }, () => request<Reply>(typer, "typing", { room })));
    assert.ok(
      replies.every((reply) => reply.ok),
      JSON.stringify(replies.find((reply) => !reply.ok)),
    );
    // A message from the typer's node after the typings: once it arrived, any typing before it has too.
    const sentinel = `sentinel-${Math.random()}`;
    const arrivals = watchers.map((watcher) =>
      nextEvent<{ clientId: string }>(watcher, "message", (message) => message.clientId === sentinel),
    );
    assert.equal((await request<Reply>(typer, "send", { room, clientId: sentinel, text: "." })).ok, true);
    await Promise.all(arrivals);
  };
  await burst(12);
  assert.deepEqual(
    seen.map((typings) => typings.length),
    [1, 1],
  );
  await new Promise((resolve) => setTimeout(resolve, 2100));
  await burst(5);
  assert.deepEqual(
    seen.map((typings) => typings.length),
    [2, 2],
  );
});

test("an event over 64 KB is answered TOO_LARGE through its ack; the connection stays", async () => {
  const room = `lim-${tag}:big`;
  const socket = await cluster.client(await cluster.token(`big-${tag}`, [room]));
  const reply = await request<Reply>(socket, "send", { room, clientId: "big", text: "x".repeat(70_000) });
  assert.equal(reply.error?.code, "TOO_LARGE");
  assert.equal((await request<Reply>(socket, "send", { room, clientId: "small", text: "fits" })).ok, true);
});

test("a session that never authenticates is closed after the authentication timeout", async () => {
  const manager = new Manager(cluster.url, { transports: ["websocket"], reconnection: false, autoConnect: false });
  const started = Date.now();
  manager.open();
  await new Promise((resolve, reject) => {
    manager.once("close", resolve);
    setTimeout(() => reject(new Error("the unauthenticated session is still open after 5 s")), 5000);
  });
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= AUTH_TIMEOUT_IN_MS - 100, `closed after ${elapsed} ms`);
});
