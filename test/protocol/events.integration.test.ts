/**
 * docs/protocol.md "Client → server" and "Server → client", row by row, through the gateway of a
 * two-node cluster: join (with and without since), leave, send (ack, duplicates, permission
 * without join, limits, rate limit), history paging, typing, presence, read + rooms, and the
 * room permission rules on every event.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { io, type Socket } from "socket.io-client";
import type { ChatMessage } from "../../storage/message.js";
import { nextEvent, nodeOf, request, startTestCluster, type TestCluster } from "../fixture.js";
import {
  assertError,
  assertOk,
  clientOnOtherNode,
  collect,
  fillRoom,
  send,
  uniqueTag,
  ULID,
  Watcher,
  wholeHistory,
  type Ack,
  type Page,
  type RoomEntry,
  type SendResult,
} from "./helpers.js";

const tag = uniqueTag();
const user = (name: string) => `${name}-${tag}`;
const roomName = (name: string) => `${name}-${tag}`;

let cluster: TestCluster;
before(async () => (cluster = await startTestCluster({ nodeCount: 2 })));
after(async () => cluster?.stop());

async function connect(name: string, rooms: string[]): Promise<Socket> {
  return cluster.client(await cluster.token(user(name), rooms));
}

/** A client connected straight to the node `peer` lives on (nodes are named n1, n2, ...), bypassing the gateway. */
async function connectToNodeOf(peer: Socket, name: string, rooms: string[]): Promise<Socket> {
  const nodeIndex = Number(nodeOf(peer).slice(1)) - 1;
  const socket = io(cluster.nodeUrl(nodeIndex), {
    auth: { token: await cluster.token(user(name), rooms) },
    reconnection: false,
    forceNew: true,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

async function join(socket: Socket, room: string, since?: number) {
  return request<Ack<{ room: string; seq: number; messages?: ChatMessage[]; more?: boolean }>>(
    socket,
    "join",
    since === undefined ? { room } : { room, since },
  );
}

describe("join", () => {
  test("without since: { room, seq } with the room's latest seq, and no messages", async () => {
    const room = roomName("join-plain");
    const alice = await connect("join-alice", [room]);
    assert.deepEqual(await join(alice, room), { ok: true, room, seq: 0 });
    for (let i = 0; i < 3; i++) assertOk(await send(alice, room, `c${i}`, `m${i}`));
    const bob = await connect("join-bob", [room]);
    assert.deepEqual(await join(bob, room), { ok: true, room, seq: 3 });
  });

  test("with since: the messages with seq > since, ascending, and more: false when that is all", async () => {
    const room = roomName("join-since");
    const alice = await connect("since-alice", [room]);
    const acks: SendResult[] = [];
    for (let i = 0; i < 5; i++) acks.push(assertOk(await send(alice, room, `c${i}`, `m${i}`)));
    const bob = await connect("since-bob", [room]);

    const after2 = assertOk(await join(bob, room, 2));
    assert.equal(after2.room, room);
    assert.equal(after2.seq, 5);
    assert.equal(after2.more, false);
    assert.deepEqual(
      after2.messages?.map((m) => [m.seq, m.id, m.text, m.from]),
      [3, 4, 5].map((seq) => [seq, acks[seq - 1]!.id, `m${seq - 1}`, user("since-alice")]),
    );

    const all = assertOk(await join(bob, room, 0));
    assert.deepEqual(
      all.messages?.map((m) => m.seq),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(assertOk(await join(bob, room, 5)), { ok: true, room, seq: 5, messages: [], more: false });
  });

  test("with since: at most 500 messages, oldest first, and more: true; the next join since continues", async () => {
    const room = roomName("join-500");
    const acks = await fillRoom(cluster, room, 520, user("filler"));
    const reader = await connect("reader-500", [room]);

    const first = assertOk(await join(reader, room, 0));
    assert.equal(first.seq, 520);
    assert.equal(first.more, true);
    assert.equal(first.messages?.length, 500);
    assert.deepEqual(
      first.messages?.map((m) => m.seq),
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      first.messages?.map((m) => m.id),
      acks.slice(0, 500).map((a) => a.id),
    );

    const rest = assertOk(await join(reader, room, 500));
    assert.equal(rest.more, false);
    assert.deepEqual(
      rest.messages?.map((m) => m.seq),
      Array.from({ length: 20 }, (_, i) => i + 501),
    );
  });
});

describe("leave", () => {
  test("answers {} and stops delivery to that socket; joining again resumes it", async () => {
    const room = roomName("leave");
    const alice = await connect("leave-alice", [room]);
    const bob = await connect("leave-bob", [room]);
    assertOk(await join(alice, room));
    assertOk(await join(bob, room));
    const bobMessages = collect<ChatMessage>(bob, "message");

    // A witness on bob's own node: alice's echo is local to her node, so only a socket on bob's
    // node proves the fan-out reached it (and passed bob by) before bob joins again.
    const witness = await connectToNodeOf(bob, "leave-witness", [room]);
    assert.equal(nodeOf(witness), nodeOf(bob));
    assertOk(await join(witness, room));

    assert.deepEqual(await request(bob, "leave", { room }), { ok: true });
    const seenOnBobsNode = nextEvent<ChatMessage>(witness, "message", (m) => m.clientId === "after-leave");
    assertOk(await send(alice, room, "after-leave", "bob left"));
    await seenOnBobsNode;

    // Barrier: bob joins again and waits for a later message; the one sent while he was out
    // would have arrived first.
    assertOk(await join(bob, room));
    const back = nextEvent<ChatMessage>(bob, "message", (m) => m.clientId === "after-rejoin");
    assertOk(await send(alice, room, "after-rejoin", "welcome back"));
    await back;
    assert.deepEqual(
      bobMessages.stop().map((m) => m.clientId),
      ["after-rejoin"],
    );
    witness.disconnect();
  });

  test("leaving a room the socket never joined is fine", async () => {
    const room = roomName("leave-unjoined");
    const alice = await connect("leave-unjoined", [room]);
    assert.deepEqual(await request(alice, "leave", { room }), { ok: true });
  });
});

describe("send", () => {
  test("acks { id, seq, ts } and delivers the Message to every socket that joined, the sender's included", async () => {
    const room = roomName("send-ack");
    const alice = await connect("send-alice", [room]);
    const bob = await clientOnOtherNode(cluster, await cluster.token(user("send-bob"), [room]), alice);
    assertOk(await join(alice, room));
    assertOk(await join(bob, room));

    const toBob = nextEvent<ChatMessage>(bob, "message", (m) => m.room === room);
    const toAlice = nextEvent<ChatMessage>(alice, "message", (m) => m.room === room);
    const before = Date.now();
    // `from` in the payload must be ignored: the sender is the token's subject.
    const ack = await request<Ack<SendResult>>(alice, "send", {
      room,
      clientId: "a-1",
      text: "hello",
      meta: { kind: "greeting" },
      from: "mallory",
    });
    const after = Date.now();
    const sent = assertOk(ack);
    assert.deepEqual(Object.keys(sent).sort(), ["id", "ok", "seq", "ts"], `send ack fields: ${JSON.stringify(ack)}`);
    assert.match(sent.id, ULID);
    assert.equal(sent.seq, 1);
    assert.ok(sent.ts >= before - 5_000 && sent.ts <= after + 5_000, `ts ${sent.ts} should be server time near ${before}`);

    const expected = {
      id: sent.id,
      room,
      seq: 1,
      from: user("send-alice"),
      clientId: "a-1",
      text: "hello",
      meta: { kind: "greeting" },
      ts: sent.ts,
    };
    assert.deepEqual(await toBob, expected);
    assert.deepEqual(await toAlice, expected);
  });

  test("seqs are 1, 2, 3, ... per room and ids are unique and time-ordered", async () => {
    const room = roomName("send-seq");
    const alice = await connect("seq-alice", [room]);
    const acks: SendResult[] = [];
    for (let i = 0; i < 10; i++) acks.push(assertOk(await send(alice, room, `s${i}`, `m${i}`)));
    assert.deepEqual(
      acks.map((a) => a.seq),
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    assert.equal(new Set(acks.map((a) => a.id)).size, 10);
    assert.deepEqual(
      [...acks.map((a) => a.id)].sort(),
      acks.map((a) => a.id),
      "ids sort in send order",
    );
  });

  test("the same (from, room, clientId) again returns the first ack with duplicate: true; nothing is delivered or stored twice", async () => {
    const room = roomName("send-dup");
    const otherRoom = roomName("send-dup-other");
    const alice = await connect("dup-alice", [room, otherRoom]);
    const bob = await connect("dup-bob", [room]);
    assertOk(await join(bob, room));
    const seenByBob = collect<ChatMessage>(bob, "message");

    const first = assertOk(await send(alice, room, "same", "once"));
    const again = await send(alice, room, "same", "once, again");
    assert.deepEqual(again, { ok: true, id: first.id, seq: first.seq, ts: first.ts, duplicate: true });

    // The key is (from, room, clientId): another sender or another room is a new message.
    const byBob = assertOk(await send(bob, room, "same", "bob's own"));
    assert.equal(byBob.seq, first.seq + 1);
    assert.equal(byBob.duplicate ?? false, false);
    const elsewhere = assertOk(await send(alice, otherRoom, "same", "other room"));
    assert.equal(elsewhere.seq, 1);
    assert.equal(elsewhere.duplicate ?? false, false);

    const barrier = nextEvent<ChatMessage>(bob, "message", (m) => m.clientId === "barrier");
    assertOk(await send(alice, room, "barrier", "end"));
    await barrier;
    assert.deepEqual(
      seenByBob.stop().map((m) => [m.from, m.clientId]),
      [
        [user("dup-alice"), "same"],
        [user("dup-bob"), "same"],
        [user("dup-alice"), "barrier"],
      ],
    );
    const stored = await wholeHistory(bob, room);
    assert.deepEqual(
      stored.map((m) => [m.seq, m.clientId, m.text]),
      [
        [1, "same", "once"],
        [2, "same", "bob's own"],
        [3, "barrier", "end"],
      ],
    );
  });

  test("needs permission for the room, not a prior join", async () => {
    const room = roomName("send-nojoin");
    const bob = await connect("nojoin-bob", [room]);
    assertOk(await join(bob, room));
    const alice = await connect("nojoin-alice", [room]);
    const delivered = nextEvent<ChatMessage>(bob, "message", (m) => m.room === room);
    const ack = assertOk(await send(alice, room, "n-1", "no join needed"));
    assert.equal((await delivered).id, ack.id);
  });

  test("limits: text ≤ 4000 characters (TOO_LARGE above), meta ≤ 2 KB as JSON (TOO_LARGE above), clientId ≤ 64 (BAD_REQUEST above)", async () => {
    const room = roomName("send-limits");
    const alice = await connect("limits-alice", [room]);
    const metaOf = (jsonBytes: number) => ({ k: "x".repeat(jsonBytes - '{"k":""}'.length) });
    assert.equal(JSON.stringify(metaOf(2048)).length, 2048);

    assert.equal(assertOk(await send(alice, room, "t-4000", "a".repeat(4000))).seq, 1);
    assertError(await send(alice, room, "t-4001", "a".repeat(4001)), "TOO_LARGE", "text of 4001 characters");
    assert.equal(assertOk(await send(alice, room, "m-2048", "meta at the limit", metaOf(2048))).seq, 2);
    assertError(await send(alice, room, "m-2049", "meta above the limit", metaOf(2049)), "TOO_LARGE", "meta of 2049 bytes");
    assert.equal(assertOk(await send(alice, room, "c".repeat(64), "clientId at the limit")).seq, 3);
    assertError(await send(alice, room, "c".repeat(65), "clientId above the limit"), "BAD_REQUEST", "clientId of 65 characters");
    // Refused messages take no seq and are not stored.
    assert.equal(assertOk(await send(alice, room, "after", "after the refusals")).seq, 4);
    assert.deepEqual(
      (await wholeHistory(alice, room)).map((m) => m.clientId),
      ["t-4000", "m-2048", "c".repeat(64), "after"],
    );
  });

  test("20 messages/s per user with bursts of 40: RATE_LIMITED with retryAfterMs past that, refused messages not stored, sending works again after retryAfterMs", async () => {
    const room = roomName("send-rate");
    const alice = await connect("rate-alice", [room]);
    const started = Date.now();
    const acks = await Promise.all(Array.from({ length: 60 }, (_, i) => send(alice, room, `r${i}`, `burst ${i}`)));
    const elapsedInMs = Date.now() - started;
    const accepted = acks.filter((a) => a.ok);
    const limited = acks.filter((a) => !a.ok);
    for (const ack of limited) {
      const error = assertError(ack, "RATE_LIMITED", "a send past the burst");
      assert.ok(
        typeof error.retryAfterMs === "number" && error.retryAfterMs > 0 && error.retryAfterMs <= 60_000,
        `retryAfterMs: ${JSON.stringify(error)}`,
      );
    }
    const allowed = 40 + Math.ceil((elapsedInMs / 1000) * 20);
    assert.ok(accepted.length >= 40, `a burst of 40 is allowed, ${accepted.length} were accepted`);
    assert.ok(accepted.length <= allowed, `${accepted.length} accepted in ${elapsedInMs} ms, at most ${allowed} allowed`);
    assert.ok(limited.length > 0, "sends past the burst are refused");

    assert.equal((await wholeHistory(alice, room)).length, accepted.length, "only accepted messages are stored");
    const waitInMs = (limited.at(-1) as { error: { retryAfterMs: number } }).error.retryAfterMs;
    await new Promise((resolve) => setTimeout(resolve, waitInMs));
    assertOk(await send(alice, room, "after-wait", "after retryAfterMs"), "a send after retryAfterMs");
  });

  test("the rate limit is per user across nodes", async () => {
    const room = roomName("send-rate-2");
    const token = await cluster.token(user("rate-two"), [room]);
    const first = await cluster.client(token);
    const second = await clientOnOtherNode(cluster, token, first);
    // 200 sends per node: more than two per-node buckets could hold unless the burst took 18 s.
    // One cluster-wide bucket allows 40 + 20/s over the burst; per-node buckets would allow
    // twice that (2 × (40 + 20/s)) up to 400, so they fail this bound at any speed below that.
    const sends = 400;
    const started = Date.now();
    const acks = await Promise.all(Array.from({ length: sends }, (_, i) => send(i % 2 ? first : second, room, `r${i}`, `burst ${i}`)));
    const elapsedInMs = Date.now() - started;
    const accepted = acks.filter((a) => a.ok).length;
    const allowed = 40 + Math.ceil((elapsedInMs / 1000) * 20);
    assert.ok(allowed < sends / 2, `the burst took ${elapsedInMs} ms, too slow for ${sends} sends to tell one bucket from two`);
    assert.ok(accepted >= 40, `a burst of 40 is allowed, ${accepted} were accepted`);
    assert.ok(accepted <= allowed, `${accepted} accepted over two nodes in ${elapsedInMs} ms, at most ${allowed} allowed for one user`);
    for (const ack of acks.filter((a) => !a.ok)) assertError(ack, "RATE_LIMITED");
  });
});

describe("history", () => {
  const room = roomName("history");
  let acks: SendResult[];
  let reader: Socket;
  before(async () => {
    acks = await fillRoom(cluster, room, 120, user("hist-writer"));
    reader = await connect("hist-reader", [room]);
  });
  const page = (payload: Record<string, unknown>) => request<Ack<Page>>(reader, "history", { room, ...payload });
  const seqs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  test("without beforeSeq: the newest 50, ascending, more: true", async () => {
    const newest = assertOk(await page({}));
    assert.deepEqual(Object.keys(newest).sort(), ["messages", "more", "ok"]);
    assert.deepEqual(
      newest.messages.map((m) => m.seq),
      seqs(71, 120),
    );
    assert.deepEqual(
      newest.messages.map((m) => m.id),
      acks.slice(70).map((a) => a.id),
    );
    assert.equal(newest.more, true);
  });

  test("pages backwards with beforeSeq until more: false", async () => {
    const second = assertOk(await page({ beforeSeq: 71 }));
    assert.deepEqual(
      second.messages.map((m) => m.seq),
      seqs(21, 70),
    );
    assert.equal(second.more, true);
    const last = assertOk(await page({ beforeSeq: 21 }));
    assert.deepEqual(
      last.messages.map((m) => m.seq),
      seqs(1, 20),
    );
    assert.equal(last.more, false);
  });

  test("limit 1..100", async () => {
    assert.deepEqual(
      assertOk(await page({ limit: 1 })).messages.map((m) => m.seq),
      [120],
    );
    const hundred = assertOk(await page({ limit: 100 }));
    assert.deepEqual(
      hundred.messages.map((m) => m.seq),
      seqs(21, 120),
    );
    assert.equal(hundred.more, true);
    const middle = assertOk(await page({ beforeSeq: 11, limit: 5 }));
    assert.deepEqual(
      middle.messages.map((m) => m.seq),
      seqs(6, 10),
    );
    assert.equal(middle.more, true);
    const oldest = assertOk(await page({ beforeSeq: 2, limit: 100 }));
    assert.deepEqual(
      oldest.messages.map((m) => m.id),
      [acks[0]!.id],
    );
    assert.equal(oldest.more, false);
    assertError(await page({ limit: 0 }), "BAD_REQUEST", "limit 0");
    assertError(await page({ limit: 101 }), "BAD_REQUEST", "limit 101");
  });

  test("an empty room: no messages, more: false", async () => {
    const empty = roomName("history-empty");
    const alice = await connect("hist-empty", [empty]);
    assert.deepEqual(await request(alice, "history", { room: empty }), { ok: true, messages: [], more: false });
  });
});

describe("typing", () => {
  test("others in the room get { room, user }; the sender does not; other rooms hear nothing", async () => {
    const room = roomName("typing");
    const watcher = await Watcher.start(cluster, user("typing-watch"), roomName("typing-elsewhere"));
    const alice = await connect("typing-alice", [room]);
    const bob = await clientOnOtherNode(cluster, await cluster.token(user("typing-bob"), [room]), alice);
    assertOk(await join(alice, room));
    assertOk(await join(bob, room));
    const aliceSaw = collect<unknown>(alice, "typing");

    const bobSees = nextEvent<unknown>(bob, "typing");
    assert.deepEqual(await request(alice, "typing", { room }), { ok: true });
    assert.deepEqual(await bobSees, { room, user: user("typing-alice") });

    // Barrier: bob types back; alice's own typing would have reached her first.
    const aliceSees = nextEvent<unknown>(alice, "typing");
    assertOk(await request<Ack>(bob, "typing", { room }));
    assert.deepEqual(await aliceSees, { room, user: user("typing-bob") });
    assert.deepEqual(aliceSaw.stop(), [{ room, user: user("typing-bob") }], "the sender does not get its own typing");

    assert.deepEqual(assertOk(await request<Ack<Page>>(alice, "history", { room })).messages, [], "typing is never stored");
    await watcher.assertQuiet("typing");
  });
});

describe("presence", () => {
  test("the ack lists the room's online users cluster-wide, users on both nodes", async () => {
    const room = roomName("presence-ack");
    const alice = await connect("pres-alice", [room]);
    const bob = await clientOnOtherNode(cluster, await cluster.token(user("pres-bob"), [room]), alice);
    assert.notEqual(nodeOf(alice), nodeOf(bob));
    assertOk(await join(alice, room));
    assertOk(await join(bob, room));

    const users = (ack: Ack<{ users: string[] }>) => [...assertOk(ack).users].sort();
    assert.deepEqual(users(await request(alice, "presence", { room })), [user("pres-alice"), user("pres-bob")].sort());
    assert.deepEqual(users(await request(bob, "presence", { room })), [user("pres-alice"), user("pres-bob")].sort());

    assertOk(await request<Ack>(bob, "leave", { room }));
    assert.deepEqual(users(await request(alice, "presence", { room })), [user("pres-alice")]);
  });

  test("presence { room, user, online } on a user's first socket joining and last socket leaving, not for the others", async () => {
    const room = roomName("presence-events");
    const bob = await connect("events-bob", [room]);
    assertOk(await join(bob, room));
    const seen = collect<{ room: string; user: string; online: boolean }>(bob, "presence");
    const aliceToken = await cluster.token(user("events-alice"), [room]);
    const carolToken = await cluster.token(user("events-carol"), [room]);

    const aliceOnline = nextEvent<{ user: string }>(bob, "presence", (p) => p.user === user("events-alice"));
    const alice1 = await cluster.client(aliceToken);
    assertOk(await join(alice1, room));
    assert.deepEqual(await aliceOnline, { room, user: user("events-alice"), online: true });

    // Alice's second socket, on the other node, joins; then her first leaves: she stays online.
    const alice2 = await clientOnOtherNode(cluster, aliceToken, alice1);
    assertOk(await join(alice2, room));
    assertOk(await request<Ack>(alice1, "leave", { room }));
    const carol = await cluster.client(carolToken);
    const carolOnline = nextEvent<{ user: string }>(bob, "presence", (p) => p.user === user("events-carol"));
    assertOk(await join(carol, room));
    await carolOnline;

    // Her last socket goes away (a disconnect counts as leaving every room).
    const aliceOffline = nextEvent<{ user: string; online: boolean }>(bob, "presence", (p) => p.user === user("events-alice") && !p.online);
    alice2.disconnect();
    assert.deepEqual(await aliceOffline, { room, user: user("events-alice"), online: false });
    const carolOffline = nextEvent<{ user: string; online: boolean }>(bob, "presence", (p) => p.user === user("events-carol") && !p.online);
    assertOk(await request<Ack>(carol, "leave", { room }));
    await carolOffline;

    const byUser = (name: string) => seen.values.filter((p) => p.user === user(name)).map((p) => [p.room, p.online]);
    assert.deepEqual(
      byUser("events-alice"),
      [
        [room, true],
        [room, false],
      ],
      "one online and one offline for alice, whatever her socket count",
    );
    assert.deepEqual(byUser("events-carol"), [
      [room, true],
      [room, false],
    ]);
    seen.stop();
  });
});

describe("read and rooms", () => {
  test("read stores the pointer; rooms lists { room, lastSeq, readSeq, unread } for the user's rooms, from any node", async () => {
    const talk = roomName("rooms-talk");
    const quiet = roomName("rooms-quiet");
    const token = await cluster.token(user("rooms-alice"), [talk, quiet]);
    const alice = await cluster.client(token);
    assertOk(await join(alice, talk));
    assertOk(await join(alice, quiet));
    const bob = await connect("rooms-bob", [talk]);
    for (let i = 0; i < 3; i++) assertOk(await send(bob, talk, `r${i}`, `m${i}`));

    assert.deepEqual(await request(alice, "read", { room: talk, seq: 2 }), { ok: true });
    const rooms = (ack: Ack<{ rooms: RoomEntry[] }>) => [...assertOk(ack).rooms].sort((a, b) => a.room.localeCompare(b.room));
    const expected = [
      { room: talk, lastSeq: 3, readSeq: 2, unread: 1 },
      { room: quiet, lastSeq: 0, readSeq: 0, unread: 0 },
    ].sort((a, b) => a.room.localeCompare(b.room));
    assert.deepEqual(rooms(await request(alice, "rooms", {})), expected);

    const elsewhere = await clientOnOtherNode(cluster, token, alice);
    assert.deepEqual(rooms(await request(elsewhere, "rooms", {})), expected);

    assert.deepEqual(await request(elsewhere, "read", { room: talk, seq: 3 }), { ok: true });
    assert.deepEqual(
      rooms(await request(alice, "rooms", {})).find((r) => r.room === talk),
      { room: talk, lastSeq: 3, readSeq: 3, unread: 0 },
    );
  });
});

describe("room permissions on every event", () => {
  const exact = roomName("perm-exact");
  const teamPrefix = `team-${tag}:`;
  // Byte order: "Z" (0x5A) sorts before "a" (0x61), so dm:Zed…:amy… is the valid order.
  const zed = `Zed-${tag}`;
  const amy = `amy-${tag}`;
  const dm = `dm:${zed}:${amy}`;
  let socket: Socket;
  before(async () => {
    socket = await cluster.client(await cluster.token(amy, [exact, `${teamPrefix}*`]));
  });

  const allowed = [exact, `${teamPrefix}general`, `${teamPrefix}x:y`, dm];
  const forbidden = [
    `${exact}x`, // an exact pattern is not a prefix
    `team-${tag}`, // the prefix is "team-<tag>:", colon included
    `team-${tag}0:general`,
    `dm:${amy}:${zed}`, // wrong order
    `dm:${amy}:${amy}`, // a < b is strict
    `dm:${zed}:bob-${tag}`, // not one of the two
    `dm:${zed}:${amy}:x`,
    roomName("other"),
  ];
  const events: [string, (room: string) => Record<string, unknown>][] = [
    ["join", (room) => ({ room })],
    ["leave", (room) => ({ room })],
    ["send", (room) => ({ room, clientId: "perm", text: "hi" })],
    ["history", (room) => ({ room })],
    ["typing", (room) => ({ room })],
    ["presence", (room) => ({ room })],
    ["read", (room) => ({ room, seq: 0 })],
  ];

  for (const [event, payload] of events) {
    test(`${event}: allowed by exact id, prefix pattern and DM membership; anything else is FORBIDDEN`, async () => {
      for (const room of allowed) assertOk(await request<Ack>(socket, event, payload(room)), `${event} ${room}`);
      for (const room of forbidden) assertError(await request(socket, event, payload(room)), "FORBIDDEN", `${event} ${room}`);
    });
  }

  test("a forbidden join does not subscribe: messages of that room never arrive", async () => {
    const secret = roomName("perm-secret");
    const own = roomName("perm-own");
    const mallory = await cluster.client(await cluster.token(user("mallory"), [own]));
    assertOk(await join(mallory, own));
    const got = collect<ChatMessage>(mallory, "message");
    assertError(await join(mallory, secret), "FORBIDDEN");
    const insider = await cluster.client(await cluster.token(user("insider"), [secret, own]));
    assertOk(await send(insider, secret, "s-1", "secret"));
    const barrier = nextEvent<ChatMessage>(mallory, "message", (m) => m.room === own);
    assertOk(await send(insider, own, "o-1", "public"));
    await barrier;
    assert.deepEqual(
      got.stop().map((m) => m.room),
      [own],
    );
  });
});
