/**
 * Idempotency beyond Redis's receipt window (docs/security.md "Memory", server/chat/receipts.ts),
 * on real Redis and Cassandra through the gateway, with a receipt window W of 1.5 s
 * (CHAT_RECEIPT_WINDOW_MS) and a client clock skew S of 0.5 s (CHAT_CLIENT_CLOCK_SKEW_MS):
 *
 * - once an entry is flushed and W has passed, its receipt is gone from Redis (it was stored for
 *   24 h: only the flusher's shortening makes it go), and a retry of
 *   the same clientId still gets the first ack with duplicate: true, from Cassandra, and the room
 *   holds the message once: for a plain clientId, an old UUIDv7, a UUIDv7 that was recent when
 *   first sent, a change, and REST's POST;
 * - Cassandra's receipt row lives 24 h from the entry's ts;
 * - a receipt whose entry is not flushed (flusher stopped) keeps its 24 h TTL in Redis.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { uuidV7 } from "../../client/client-id.js";
import { ChangeKeys } from "../../storage/change-keys.js";
import { Timeline } from "../../storage/cassandra/timeline.js";
import { DEFAULT_STREAM_CONFIG } from "../../storage/config.js";
import { RedisKeys } from "../../storage/keys.js";
import { eventually, request, startTestCluster, type TestCluster } from "../fixture.js";
import { assertOk, send, uniqueTag, wholeHistory, type Ack, type SendResult } from "./helpers.js";

const WINDOW_MS = 1500;
const SKEW_MS = 500;
const DAY_MS = 24 * 60 * 60 * 1000;

const tag = uniqueTag();
const user = (name: string) => `${name}-${tag}`;
const roomName = (name: string) => `${name}-${tag}`;

let cluster: TestCluster;
let keys: RedisKeys;
let timeline: Timeline;
before(async () => {
  cluster = await startTestCluster({
    nodeCount: 2,
    env: { CHAT_RECEIPT_WINDOW_MS: String(WINDOW_MS), CHAT_CLIENT_CLOCK_SKEW_MS: String(SKEW_MS) },
  });
  keys = new RedisKeys(cluster.prefix, DEFAULT_STREAM_CONFIG.shards);
  timeline = new Timeline(cluster.cassandra, DEFAULT_STREAM_CONFIG.bucketWidthInMs);
});
after(async () => cluster?.stop());

/**
 * Waits until every one of `receiptKeys` left Redis: only the flusher shortens a receipt to W,
 * after writing its entry to Cassandra; the receipts were stored for 24 h.
 */
async function untilOnlyInCassandra(receiptKeys: string[]): Promise<void> {
  for (const key of receiptKeys) {
    await eventually(`${key} left Redis`, async () => ((await cluster.redis.exists(key)) === 0 ? true : undefined), 15_000);
  }
}

describe("after the receipt window", () => {
  test("a resend gets the first ack, duplicate: true, from Cassandra; the room holds each message once", async () => {
    const room = roomName("after-window");
    const name = user("alice");
    const alice = await cluster.client(await cluster.token(name, [room]));
    const clientIds = {
      plain: `plain-${tag}`,
      oldUuid: uuidV7(Date.now() - 60 * 60 * 1000),
      recentUuid: uuidV7(),
    };
    const firsts = new Map<string, SendResult>();
    for (const clientId of Object.values(clientIds)) firsts.set(clientId, assertOk(await send(alice, room, clientId, `first ${clientId}`)));
    // Within the window a recent UUIDv7 is answered by Redis alone, as before.
    assert.deepEqual(assertOk(await send(alice, room, clientIds.recentUuid, "again")), {
      ok: true,
      ...firsts.get(clientIds.recentUuid)!,
      duplicate: true,
    });

    await untilOnlyInCassandra(Object.values(clientIds).map((clientId) => keys.idempotency(name, room, clientId)));
    for (const [clientId, first] of firsts) {
      const again = assertOk(await send(alice, room, clientId, "resent after the window"), clientId);
      assert.deepEqual(again, { ok: true, ...first, duplicate: true }, `${clientId}: the first ack, marked duplicate`);
    }
    const stored = await wholeHistory(alice, room);
    assert.deepEqual(
      stored.map((m) => [m.seq, m.clientId]),
      Object.values(clientIds).map((clientId, i) => [i + 1, clientId]),
      "each message once",
    );

    // Cassandra keeps the receipt 24 h from the message's ts (rounded up to the second).
    const row = (
      await cluster.cassandra.execute(
        "SELECT TTL(seq) AS ttl FROM receipts_by_client_id WHERE user_id = ? AND room = ? AND client_id = ? AND scope = 'send'",
        [name, room, clientIds.plain],
        { prepare: true },
      )
    ).first();
    const ttl = row?.["ttl"] as number | undefined;
    const expected = (firsts.get(clientIds.plain)!.ts + DAY_MS - Date.now()) / 1000;
    assert.ok(
      ttl !== undefined && ttl <= Math.ceil(expected) + 1 && ttl >= expected - 60,
      `receipt TTL ${ttl} s, expected about ${expected} s`,
    );
  });

  test("a change resent after the window gets its first ack, duplicate: true, and is applied once", async () => {
    const room = roomName("change-after-window");
    const name = user("bob");
    const bob = await cluster.client(await cluster.token(name, [room]));
    const message = assertOk(await send(bob, room, uuidV7(), "to be edited"));
    const editId = `edit-${tag}`;
    const reactId = `react-${tag}`;
    const edit = assertOk(
      await request<Ack<{ seq: number; ts: number }>>(bob, "edit", { room, id: message.id, clientId: editId, text: "edited" }),
    );
    const react = assertOk(
      await request<Ack<{ seq: number; ts: number }>>(bob, "react", { room, id: message.id, clientId: reactId, emoji: "👍", on: true }),
    );
    const changeKeys = new ChangeKeys(keys);
    await untilOnlyInCassandra([changeKeys.idempotency(name, room, editId), changeKeys.idempotency(name, room, reactId)]);

    const editAgain = assertOk(
      await request<Ack<{ seq: number; ts: number }>>(bob, "edit", { room, id: message.id, clientId: editId, text: "edited" }),
    );
    assert.deepEqual(editAgain, { ok: true, seq: edit.seq, ts: edit.ts, duplicate: true });
    // A react that toggles off then on again would change the count: a duplicate must not.
    const reactAgain = assertOk(
      await request<Ack<{ seq: number; ts: number }>>(bob, "react", { room, id: message.id, clientId: reactId, emoji: "👍", on: true }),
    );
    assert.deepEqual(reactAgain, { ok: true, seq: react.seq, ts: react.ts, duplicate: true });
    const latest = assertOk(await request<Ack<{ seq: number }>>(bob, "join", { room }));
    assert.equal(latest.seq, react.seq, "no entry was added to the room's log");
  });

  test("REST POST: a resend after the window answers 200 with the first ack", async () => {
    const room = roomName("rest-after-window");
    const name = user("carol");
    const token = await cluster.token(name, [room]);
    const clientId = `rest-${tag}`;
    const post = () => cluster.http(`/api/rooms/${room}/messages`, { method: "POST", token, body: { clientId, text: "hello" } });
    const first = await post();
    assert.equal(first.status, 201);
    await untilOnlyInCassandra([keys.idempotency(name, room, clientId)]);
    const again = await post();
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { ...first.body, duplicate: true });
  });
});

describe("before the flush", () => {
  test("a receipt whose entry is not flushed keeps its 24 h TTL in Redis", async () => {
    const room = roomName("unflushed");
    const name = user("dave");
    const dave = await cluster.client(await cluster.token(name, [room]));
    await cluster.apps.flusher.stop();
    try {
      const clientId = `unflushed-${tag}`;
      const first = assertOk(await send(dave, room, clientId, "waits in the stream"));
      // Longer than the window, and the flusher would have shortened it by now if it ran.
      await new Promise((resolve) => setTimeout(resolve, WINDOW_MS + 500));
      const ttl = await cluster.redis.pttl(keys.idempotency(name, room, clientId));
      assert.ok(ttl > DAY_MS - 60_000, `pttl ${ttl}: the receipt of an unflushed entry keeps the idempotency TTL`);
      assert.equal((await timeline.latestOf(room)).seq, 0, "nothing reached Cassandra");
      assert.deepEqual(assertOk(await send(dave, room, clientId, "again")), { ...first, duplicate: true });
    } finally {
      await cluster.restartFlusher();
    }
  });
});
