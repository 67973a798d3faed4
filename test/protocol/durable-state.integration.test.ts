/**
 * What the write path keeps and where reads find it, on real Redis and Cassandra, through the
 * gateway of a two-node cluster with small settings so each edge is reached in seconds:
 * Cassandra buckets of 1 s (CHAT_BUCKET_WIDTH_MS), 3 recent messages per room in Redis
 * (CHAT_RECENT_KEEP_PER_ROOM) and idempotency records kept 1.5 s (CHAT_IDEMPOTENCY_TTL_MS).
 *
 * - seq continues from Cassandra's latest when Redis lost a room's meta;
 * - `read` never moves a read pointer back and clamps it to the room's latest seq;
 * - history across several Cassandra buckets and across the Redis → Cassandra boundary;
 * - an idempotency record expires; two concurrent sends with one clientId store one message;
 * - `rooms` lists only what the current token allows;
 * - a draining node answers /readyz 503.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { io, type Socket } from "socket.io-client";
import { Timeline } from "../../storage/cassandra/timeline.js";
import { DEFAULT_STREAM_CONFIG } from "../../storage/config.js";
import { RedisKeys } from "../../storage/keys.js";
import { bucketOf, type ChatMessage } from "../../storage/message.js";
import { eventually, httpRequest, nextEvent, request, startTestCluster, type TestCluster } from "../fixture.js";
import {
  assertOk,
  clientOnOtherNode,
  collect,
  send,
  uniqueTag,
  wholeHistory,
  type Ack,
  type Page,
  type RoomEntry,
  type SendResult,
} from "./helpers.js";

const BUCKET_WIDTH_MS = 1000;
const RECENT_KEEP_PER_ROOM = 3;
const IDEMPOTENCY_TTL_MS = 1500;

const tag = uniqueTag();
const user = (name: string) => `${name}-${tag}`;
const roomName = (name: string) => `${name}-${tag}`;

let cluster: TestCluster;
let keys: RedisKeys;
let timeline: Timeline;
before(async () => {
  cluster = await startTestCluster({
    nodeCount: 2,
    env: {
      CHAT_BUCKET_WIDTH_MS: String(BUCKET_WIDTH_MS),
      CHAT_RECENT_KEEP_PER_ROOM: String(RECENT_KEEP_PER_ROOM),
      CHAT_IDEMPOTENCY_TTL_MS: String(IDEMPOTENCY_TTL_MS),
    },
  });
  keys = new RedisKeys(cluster.prefix, DEFAULT_STREAM_CONFIG.shards);
  timeline = new Timeline(cluster.cassandra, BUCKET_WIDTH_MS);
});
after(async () => cluster?.stop());

async function connect(name: string, rooms: string[]): Promise<Socket> {
  return cluster.client(await cluster.token(user(name), rooms));
}

async function sendAll(socket: Socket, room: string, clientIds: string[]): Promise<SendResult[]> {
  const acks: SendResult[] = [];
  for (const clientId of clientIds) acks.push(assertOk(await send(socket, room, clientId, `text of ${clientId}`), clientId));
  return acks;
}

/** Waits until the flusher wrote the room up to `seq` to Cassandra. */
async function untilInCassandra(room: string, seq: number): Promise<void> {
  await eventually(`${room} flushed up to seq ${seq}`, async () => ((await timeline.latestOf(room)).seq === seq ? true : undefined));
}

/** The seqs the room's recent history holds in Redis. */
async function recentSeqs(room: string): Promise<number[]> {
  return (await cluster.redis.zrange(keys.roomRecent(room), "0", "-1", "WITHSCORES")).filter((_, i) => i % 2 === 1).map(Number);
}

const seqsOf = (messages: ChatMessage[]) => messages.map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("seq after Redis lost a room's meta", () => {
  test("the next send continues at Cassandra's latest seq + 1, ts not going back", async () => {
    const room = roomName("meta-lost");
    const alice = await connect("meta-alice", [room]);
    const acks = await sendAll(alice, room, ["m1", "m2", "m3"]);
    await untilInCassandra(room, 3);
    // Redis forgets the room entirely: its meta (seq, ts) and its recent history.
    assert.equal(await cluster.redis.del(keys.roomMeta(room)), 1, "the room's meta was in Redis under RedisKeys.roomMeta");
    assert.equal(await cluster.redis.del(keys.roomRecent(room)), 1, "the room's recent history was in Redis under RedisKeys.roomRecent");

    const next = assertOk(await send(alice, room, "m4", "after the loss"));
    assert.equal(next.seq, 4, "seq continues from Cassandra's latest");
    assert.ok(next.ts >= acks[2]!.ts, `ts ${next.ts} went back before ${acks[2]!.ts}`);
    assert.deepEqual(seqsOf(await wholeHistory(alice, room)), [1, 2, 3, 4]);
  });
});

describe("read", () => {
  test("never moves the read pointer back, and clamps it to the room's latest seq", async () => {
    const room = roomName("read-clamp");
    const alice = await connect("read-alice", [room]);
    const bob = await connect("read-bob", [room]);
    assertOk(await request<Ack>(alice, "join", { room }));
    await sendAll(bob, room, ["r1", "r2", "r3"]);
    const entry = async () => assertOk(await request<Ack<{ rooms: RoomEntry[] }>>(alice, "rooms", {})).rooms.find((r) => r.room === room);

    assert.deepEqual(await request(alice, "read", { room, seq: 2 }), { ok: true });
    assert.deepEqual(await entry(), { room, lastSeq: 3, readSeq: 2, unread: 1 });
    // Backwards: kept at 2.
    assert.deepEqual(await request(alice, "read", { room, seq: 1 }), { ok: true });
    assert.deepEqual(await entry(), { room, lastSeq: 3, readSeq: 2, unread: 1 }, "a read of seq 1 after 2 moved the pointer back");
    // Past the latest: clamped to 3, so a later message counts as unread.
    assert.deepEqual(await request(alice, "read", { room, seq: 99 }), { ok: true });
    assert.deepEqual(await entry(), { room, lastSeq: 3, readSeq: 3, unread: 0 }, "a read past the latest seq is clamped to it");
    await sendAll(bob, room, ["r4"]);
    assert.deepEqual(await entry(), { room, lastSeq: 4, readSeq: 3, unread: 1 }, "the message after the clamp is unread");
  });
});

describe("history across Cassandra buckets and the Redis → Cassandra boundary", () => {
  const room = roomName("buckets");
  let acks: SendResult[];
  let reader: Socket;
  before(async () => {
    const writer = await connect("bucket-writer", [room]);
    acks = [];
    // Three groups a bucket width apart: three buckets whatever the machine's speed.
    for (let group = 0; group < 3; group++) {
      if (group > 0) await sleep(BUCKET_WIDTH_MS);
      acks.push(
        ...(await sendAll(
          writer,
          room,
          [0, 1, 2].map((i) => `b${group * 3 + i + 1}`),
        )),
      );
    }
    await untilInCassandra(room, 9);
    // The flusher trims what it wrote: only the newest 3 stay in Redis.
    await eventually("the recent history trimmed to the newest 3", async () =>
      (await recentSeqs(room)).join() === "7,8,9" ? true : undefined,
    );
    reader = await connect("bucket-reader", [room]);
  });

  test("the messages sit in 3 Cassandra buckets, and only seqs 7..9 are in Redis", async () => {
    const buckets = new Set(acks.map((ack) => bucketOf(ack.ts, BUCKET_WIDTH_MS)));
    assert.ok(buckets.size >= 3, `the sends fell into ${buckets.size} buckets`);
    const stored = await cluster.cassandra.execute("SELECT bucket FROM room_buckets WHERE room = ?", [room]);
    assert.deepEqual(stored.rows.map((row) => Number(row["bucket"])).sort(), [...buckets].sort());
    assert.deepEqual(await recentSeqs(room), [7, 8, 9]);
  });

  test("one history page holds all of it, in order, as acknowledged", async () => {
    const page = assertOk(await request<Ack<Page>>(reader, "history", { room, limit: 50 }));
    assert.deepEqual(seqsOf(page.messages), range(1, 9));
    assert.deepEqual(
      page.messages.map((m) => [m.id, m.ts, m.clientId]),
      acks.map((ack, i) => [ack.id, ack.ts, `b${i + 1}`]),
    );
    assert.equal(page.more, false);
  });

  test("pages that cross the Redis → Cassandra boundary and the bucket boundaries", async () => {
    const page = async (beforeSeq: number, limit: number) =>
      assertOk(await request<Ack<Page>>(reader, "history", { room, beforeSeq, limit }));
    const acrossBoundary = await page(9, 4);
    assert.deepEqual(seqsOf(acrossBoundary.messages), [5, 6, 7, 8], "Cassandra's 5, 6 and Redis's 7, 8");
    assert.equal(acrossBoundary.more, true);
    const acrossBuckets = await page(5, 3);
    assert.deepEqual(seqsOf(acrossBuckets.messages), [2, 3, 4], "the first bucket's 2, 3 and the second's 4");
    assert.equal(acrossBuckets.more, true);
    const first = await page(2, 10);
    assert.deepEqual(seqsOf(first.messages), [1]);
    assert.equal(first.more, false);
    assert.deepEqual(seqsOf(await wholeHistory(reader, room)), range(1, 9));
  });

  test("join with since reads forward across the same boundaries", async () => {
    const joined = assertOk(
      await request<Ack<{ seq: number; messages: ChatMessage[]; more: boolean }>>(reader, "join", { room, since: 2 }),
    );
    assert.equal(joined.seq, 9);
    assert.deepEqual(seqsOf(joined.messages), range(3, 9));
    assert.deepEqual(
      joined.messages.map((m) => m.id),
      acks.slice(2).map((ack) => ack.id),
    );
    assert.equal(joined.more, false);
  });
});

describe("idempotency", () => {
  test("a clientId is new again once its record expired (CHAT_IDEMPOTENCY_TTL_MS)", async () => {
    const room = roomName("idem-expiry");
    const name = user("idem-alice");
    const alice = await cluster.client(await cluster.token(name, [room]));
    const first = assertOk(await send(alice, room, "same", "first"));
    const again = assertOk(await send(alice, room, "same", "first"));
    assert.deepEqual(again, { ...first, duplicate: true }, "within the TTL: the first ack, marked duplicate");

    const record = keys.idempotency(name, room, "same");
    const ttl = await cluster.redis.pttl(record);
    assert.ok(
      ttl > 0 && ttl <= IDEMPOTENCY_TTL_MS,
      `the record under RedisKeys.idempotency expires within ${IDEMPOTENCY_TTL_MS} ms (pttl ${ttl})`,
    );
    await eventually("the idempotency record expired", async () => ((await cluster.redis.exists(record)) === 0 ? true : undefined), 10_000);

    const later = assertOk(await send(alice, room, "same", "after expiry"));
    assert.equal(later.duplicate ?? false, false);
    assert.equal(later.seq, first.seq + 1);
    assert.notEqual(later.id, first.id);
    assert.deepEqual(
      (await wholeHistory(alice, room)).map((m) => [m.seq, m.clientId]),
      [
        [1, "same"],
        [2, "same"],
      ],
    );
  });

  test("two concurrent sends with one clientId on two nodes: one stored, both acks equal, exactly one marked duplicate", async () => {
    const room = roomName("idem-race");
    const token = await cluster.token(user("idem-bob"), [room]);
    const first = await cluster.client(token);
    const second = await clientOnOtherNode(cluster, token, first);
    const listener = await connect("idem-listener", [room]);
    assertOk(await request<Ack>(listener, "join", { room }));
    const delivered = collect<ChatMessage>(listener, "message");

    const [one, two] = await Promise.all([send(first, room, "race", "one"), send(second, room, "race", "two")]);
    const a = assertOk(one);
    const b = assertOk(two);
    const acks = [a, b];
    assert.deepEqual([a.id, a.seq, a.ts], [b.id, b.seq, b.ts], "both acks name the same stored message");
    assert.equal(acks.filter((ack) => ack.duplicate === true).length, 1, `exactly one ack is a duplicate: ${JSON.stringify(acks)}`);

    // Barrier: a later message through each of the two nodes. One node's publications reach
    // the listener in order, so once both arrived, any copy either node published has too.
    const barriers = ["after-race-1", "after-race-2"].map((clientId) =>
      nextEvent<ChatMessage>(listener, "message", (m) => m.clientId === clientId),
    );
    assertOk(await send(first, room, "after-race-1", "barrier"));
    assertOk(await send(second, room, "after-race-2", "barrier"));
    await Promise.all(barriers);
    assert.deepEqual(
      delivered
        .stop()
        .filter((m) => m.clientId === "race")
        .map((m) => m.id),
      [a.id],
      "delivered once",
    );
    assert.deepEqual(
      (await wholeHistory(listener, room)).map((m) => m.clientId),
      ["race", "after-race-1", "after-race-2"],
      "stored once",
    );
  });
});

describe("rooms and the current token", () => {
  test("rooms (socket and REST) lists only the rooms the current token allows", async () => {
    const allowed = roomName("rooms-kept");
    const revoked = roomName("rooms-revoked");
    const name = user("rooms-carol");
    const wide = await cluster.token(name, [allowed, revoked]);
    const carol = await cluster.client(wide);
    assertOk(await request<Ack>(carol, "join", { room: allowed }));
    // A room she only sent to counts as hers too.
    assertOk(await send(carol, revoked, "c1", "hello"));
    const roomsOf = async (socket: Socket) =>
      assertOk(await request<Ack<{ rooms: RoomEntry[] }>>(socket, "rooms", {}))
        .rooms.map((r) => r.room)
        .sort();
    // A send records the room in the user's list off the ack's critical path (ChatService
    // rememberRoom), so the list may lag the ack by a write: wait for it, bounded.
    const both = [allowed, revoked].sort();
    await eventually(
      "the sent-to room in the user's list",
      async () => (JSON.stringify(await roomsOf(carol)) === JSON.stringify(both) ? true : undefined),
      5_000,
    );
    assert.deepEqual(await roomsOf(carol), both, "with the wide token, both rooms");

    const narrow = await cluster.token(name, [allowed]);
    const narrowed = await cluster.client(narrow);
    assert.deepEqual(await roomsOf(narrowed), [allowed], "with a token for one room, only that one");
    const rest = await cluster.http("/api/me/rooms", { token: narrow });
    assert.equal(rest.status, 200, rest.text);
    assert.deepEqual(
      (rest.body.rooms as RoomEntry[]).map((r) => r.room),
      [allowed],
      "REST, with the narrow token",
    );
    // The revoked room is still stored: the wide token lists it again.
    assert.deepEqual(await roomsOf(carol), [allowed, revoked].sort());
  });
});

// Last: it restarts node 2.
describe("draining", () => {
  test("a draining node answers /readyz 503 until it exits; after its restart, 200", async () => {
    const index = 1;
    const nodeUrl = cluster.nodeUrl(index);
    assert.equal((await httpRequest(`${nodeUrl}/readyz`)).status, 200);
    // A client of that node, straight to it: the drain waits for it, and it hears `draining`.
    const socket = io(nodeUrl, {
      auth: { token: await cluster.token(user("drain-dave"), []) },
      reconnection: false,
      forceNew: true,
      transports: ["websocket"],
    });
    await new Promise<void>((resolve, reject) => (socket.once("connect", resolve), socket.once("connect_error", reject)));
    const draining = nextEvent(socket, "draining");
    const old = cluster.apps.nodes[index]!;
    const restarted = cluster.restartNode(index);
    try {
      await draining;
      // Readiness turns 503 before clients are told to drain.
      const ready = await httpRequest(`${nodeUrl}/readyz`);
      assert.equal(ready.status, 503, `a draining node's /readyz: ${ready.status} ${ready.text}`);
      assert.equal(old.process.child.exitCode, null, "the node was still running when it answered");
    } finally {
      socket.disconnect();
      await restarted;
    }
    assert.equal(await old.process.exited, 0);
    // The new process turns ready once its stores are connected.
    await eventually("the restarted node ready", async () =>
      (await httpRequest(`${cluster.nodeUrl(index)}/readyz`)).status === 200 ? true : undefined,
    );
  });
});
