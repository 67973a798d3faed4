/**
 * The outgoing buffer cap on a real 2-node cluster (docs/protocol.md v1.1 "Limits": outgoing
 * buffer per socket): a client that stops reading (WebSocket) or polling (long-polling) while
 * another user fills its room is closed once more than the cap waits for it, the node logs and
 * counts it, the room's other members keep receiving, and the slow user loses nothing: what it
 * read is a prefix of the room without a gap, and `join { since }` returns the rest.
 *
 * The cap is set to 64 KB and messages to 30,000 characters, so a few hundred KB of traffic
 * shows it. The slow clients connect to node 0 directly rather than through the gateway:
 * HAProxy and its two sockets' kernel buffers would absorb several more MB before the node's
 * own buffer grows, and the limit is the node's.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { io as connect, type Socket } from "socket.io-client";
import { eventually, httpRequest, nodeOf, request, startTestCluster, type TestCluster } from "../fixture.js";
import { assertOk, send, uniqueTag, type Ack, type Page, type SendResult } from "../protocol/helpers.js";

const CAP_BYTES = 64 * 1024;
const TEXT_CHARS = 30_000;
/** Sends before the test gives up waiting for the cap: ~30 MB, far more than any kernel buffers hold. */
const MAX_SENDS = 1000;

type ChatMessage = { seq: number; room: string; text: string };
type JoinAck = Ack<{ room: string; seq: number; messages?: ChatMessage[]; more?: boolean }>;

let cluster: TestCluster;
const tag = uniqueTag();

before(async () => {
  cluster = await startTestCluster({
    env: {
      CHAT_MAX_OUTGOING_BUFFER_BYTES: String(CAP_BYTES),
      CHAT_MAX_TEXT_CHARS: String(TEXT_CHARS),
      // The sender is not what this test limits.
      CHAT_SENDS_PER_SECOND: "1000",
      CHAT_SEND_BURST: "1000",
      CHAT_EVENTS_PER_SECOND: "2000",
      CHAT_EVENT_BURST: "2000",
    },
  });
});
after(async () => cluster.stop());

/** chat_refusals_total{reason="slow_consumer"} of node 0. */
async function slowConsumerRefusals(): Promise<number> {
  const metrics = (await httpRequest(`${cluster.nodeUrl(0)}/metrics`)).text;
  const match = /^chat_refusals_total\{[^}]*reason="slow_consumer"[^}]*\} (\d+)/m.exec(metrics);
  return match ? Number(match[1]) : 0;
}

/** A socket.io client on node 0 itself (not through the gateway), with the given transport only. */
async function clientOnNode0(token: string, transport: "websocket" | "polling"): Promise<Socket> {
  const socket = connect(cluster.nodeUrl(0), { auth: { token }, transports: [transport], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/** The seqs a socket receives in `room`, in arrival order. */
function seqsOf(socket: Socket, room: string): number[] {
  const seqs: number[] = [];
  socket.on("message", (message: ChatMessage) => {
    if (message.room === room) seqs.push(message.seq);
  });
  return seqs;
}

/**
 * Sends long messages into `room`, 10 at a time, until node 0 has counted one more slow consumer
 * than `before` (or MAX_SENDS, and the test fails). Returns the acknowledged seqs, ascending.
 */
async function fillUntilClosed(sender: Socket, room: string, before: number): Promise<number[]> {
  const acked: number[] = [];
  const text = "m".repeat(TEXT_CHARS);
  while (acked.length < MAX_SENDS) {
    const batch = Array.from({ length: 10 }, (_, i) => send(sender, room, `fill-${acked.length + i}`, text));
    for (const ack of await Promise.all(batch)) acked.push(assertOk<SendResult>(ack, "send").seq);
    if ((await slowConsumerRefusals()) > before) return acked.sort((a, b) => a - b);
  }
  assert.fail(`${acked.length} messages of ${TEXT_CHARS} characters sent, and the slow socket was never closed for its buffer`);
}

/** Everything after `since`, paging `join { since }` as a client catching up does. */
async function catchUp(socket: Socket, room: string, since: number): Promise<number[]> {
  const seqs: number[] = [];
  for (;;) {
    const ack = assertOk(await request<JoinAck>(socket, "join", { room, since }), "join since");
    const messages = ack.messages ?? [];
    seqs.push(...messages.map((message) => message.seq));
    if (!ack.more || messages.length === 0) return seqs;
    since = messages.at(-1)!.seq;
  }
}

/** 1..n in order: a prefix of the room with no gap (the room is new, so its first seq is 1). */
function assertPrefix(seqs: number[], what: string): void {
  assert.deepEqual(
    seqs,
    seqs.map((_, i) => i + 1),
    `${what}: ${JSON.stringify(seqs.slice(0, 20))}...`,
  );
}

/** The node's line about closing `user`'s socket; it reaches the file through the node's stdout pipe, so it may come late. */
async function slowConsumerLogLine(user: string): Promise<string> {
  return eventually(
    `the close of ${user}'s socket logged with its user`,
    async () => {
      const log = await readFile(cluster.apps.nodes[0]!.process.logFile, "utf8");
      return log.split("\n").find((entry) => entry.includes("outgoing buffer limit") && entry.includes(user));
    },
    5000,
  );
}

async function membersOf(room: string, users: string[]): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (const user of users) {
    const socket = await cluster.client(await cluster.token(user, [room]));
    if (user.startsWith("watcher")) assertOk(await request<JoinAck>(socket, "join", { room }), "watcher join");
    sockets.push(socket);
  }
  return sockets;
}

test("a WebSocket client that stops reading is closed past the cap; the room goes on and the slow user catches up with join { since }", async () => {
  const room = `slow-${tag}:ws`;
  const slowUser = `slow-ws-${tag}`;
  const [sender, watcher] = await membersOf(room, [`sender-ws-${tag}`, `watcher-ws-${tag}`]);
  const slow = await clientOnNode0(await cluster.token(slowUser, [room]), "websocket");
  assertOk(await request<JoinAck>(slow, "join", { room }), "slow join");
  const watched = seqsOf(watcher!, room);
  const read = seqsOf(slow, room);
  const disconnected = new Promise<string>((resolve) => slow.once("disconnect", resolve));
  // Stops reading its TCP socket: what the node sends piles up in the kernel, then in uWS.
  (slow.io.engine.transport as unknown as { ws: { pause(): void; resume(): void } }).ws.pause();

  const before = await slowConsumerRefusals();
  const acked = await fillUntilClosed(sender!, room, before);
  assert.equal(await slowConsumerRefusals(), before + 1);
  const line = await slowConsumerLogLine(slowUser);
  assert.match(line, /"transport":"websocket"/);
  assert.ok(!line.includes("mmmmmmmmmm"), "no message text in the log");

  // The other member received every message, the slow one's close notwithstanding.
  await eventually("the watcher has every message", async () => (watched.length >= acked.length ? true : undefined));
  assert.deepEqual(
    [...watched].sort((a, b) => a - b),
    acked,
  );

  // Reading again, the slow client gets what reached it before the close, then the close.
  (slow.io.engine.transport as unknown as { ws: { resume(): void } }).ws.resume();
  assert.match(await disconnected, /^transport (close|error)$/);
  assert.ok(read.length < acked.length, `it read ${read.length} of ${acked.length}: the cap cut it`);
  assertPrefix(read, "what the slow client read before the close");

  const again = await clientOnNode0(await cluster.token(slowUser, [room]), "websocket");
  const missed = await catchUp(again, room, read.at(-1) ?? 0);
  assert.deepEqual([...read, ...missed], acked, "read + join { since } is every acknowledged message");
  again.disconnect();
  console.log(`# slow WebSocket reader: closed after ${acked.length} messages of ${TEXT_CHARS} chars, having read ${read.length}`);
});

test("a long-polling client that stops polling is closed past the cap; the room goes on and the slow user catches up", async () => {
  const room = `slow-${tag}:poll`;
  const slowUser = `slow-poll-${tag}`;
  const [sender, watcher] = await membersOf(room, [`sender-poll-${tag}`, `watcher-poll-${tag}`]);
  const slow = await clientOnNode0(await cluster.token(slowUser, [room]), "polling");
  assert.equal(nodeOf(slow), cluster.apps.nodes[0]!.process.name);
  assertOk(await request<JoinAck>(slow, "join", { room }), "slow join");
  const sid = slow.io.engine.id;
  const watched = seqsOf(watcher!, room);
  const read = seqsOf(slow, room);
  // engine.io-client's pause: lets the poll in flight finish, then polls no more. One message
  // answers the poll the server holds.
  const paused = new Promise<void>((resolve) => (slow.io.engine.transport as unknown as { pause(done: () => void): void }).pause(resolve));
  const first = assertOk<SendResult>(await send(sender!, room, "first", "answers the pending poll"), "first send");
  await paused;

  const before = await slowConsumerRefusals();
  const acked = [first.seq, ...(await fillUntilClosed(sender!, room, before))];
  assert.equal(await slowConsumerRefusals(), before + 1);
  const line = await slowConsumerLogLine(slowUser);
  assert.match(line, /"transport":"polling"/);
  assert.ok(!line.includes("mmmmmmmmmm"), "no message text in the log");

  // The session and what it had queued are gone: its next poll is refused.
  const poll = await httpRequest(`${cluster.nodeUrl(0)}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`);
  assert.equal(poll.status, 400, `a poll of the closed session: ${poll.status} ${poll.text.slice(0, 200)}`);
  assert.equal(poll.body.message, "Session ID unknown");

  await eventually("the watcher has every message", async () => (watched.length >= acked.length ? true : undefined));
  assert.deepEqual(
    [...watched].sort((a, b) => a - b),
    acked,
  );

  assertPrefix(read, "what the slow client read before it stopped polling");
  slow.disconnect();
  const again = await clientOnNode0(await cluster.token(slowUser, [room]), "polling");
  const missed = await catchUp(again, room, read.at(-1) ?? 0);
  assert.deepEqual([...read, ...missed], acked, "read + join { since } is every acknowledged message");
  again.disconnect();
  console.log(`# slow polling client: closed after ${acked.length} messages of ${TEXT_CHARS} chars, having read ${read.length}`);
});

test("a reader that keeps up is not closed, and a reply larger than the cap is delivered whole", async () => {
  const room = `slow-${tag}:ok`;
  const [sender] = await membersOf(room, [`sender-ok-${tag}`]);
  const before = await slowConsumerRefusals();
  for (const transport of ["websocket", "polling"] as const) {
    const reader = await clientOnNode0(await cluster.token(`reader-${transport}-${tag}`, [room]), transport);
    assertOk(await request<JoinAck>(reader, "join", { room }), "join");
    const got = seqsOf(reader, room);
    const acked: number[] = [];
    // 300 KB in all, one message at a time: a client that reads (or polls) as it comes.
    for (let i = 0; i < 10; i++)
      acked.push(assertOk<SendResult>(await send(sender!, room, `${transport}-${i}`, "k".repeat(TEXT_CHARS)), "send").seq);
    await eventually(`${transport} reader has every message`, async () => (got.length >= acked.length ? true : undefined));
    // One ack of 10+ messages of 30,000 characters, several times the 64 KB cap.
    const page = assertOk(await request<Ack<Page>>(reader, "history", { room, limit: 100 }), "history");
    assert.ok(page.messages.length >= 10, `${page.messages.length} messages in the page`);
    assert.ok(reader.connected, `the ${transport} reader is still connected`);
    reader.disconnect();
  }
  assert.equal(await slowConsumerRefusals(), before, "no reader that keeps up was closed");
});
