/**
 * The spine of the protocol end to end, on real Redis, Cassandra and HAProxy: two users on
 * different nodes exchange a message through the gateway (websocket, then long-polling with no
 * cookies), the flusher writes it to Cassandra, and history reads it back once the Redis copy
 * is gone.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { DEFAULT_STREAM_CONFIG } from "../storage/config.js";
import { RedisKeys } from "../storage/keys.js";
import { bucketOf, type ChatMessage } from "../storage/message.js";
import { eventually, TEST_JWT_SECRET, nextEvent, nodeOf, request, startTestCluster, type TestCluster } from "./fixture.js";
import { uniqueTag } from "./protocol/helpers.js";

// The Cassandra keyspace is shared by every file of a run: names of this file only.
const tag = uniqueTag();
const alice = `alice-${tag}`;
const bob = `bob-${tag}`;
const carol = `carol-${tag}`;

let cluster: TestCluster;
before(async () => (cluster = await startTestCluster({ nodeCount: 2 })));
after(async () => cluster?.stop());

test("the gateway answers /readyz with 200", async () => {
  const response = await fetch(`${cluster.url}/readyz`);
  assert.equal(response.status, 200);
});

for (const transport of ["websocket", "polling"] as const) {
  describe(`over ${transport}`, () => {
    test("two users on different nodes exchange a message, stored in Cassandra, readable after Redis forgets it", async () => {
      const room = `spine-${transport}-${tag}`;
      const options = { transports: [transport], upgrade: false };
      const aliceSocket = await cluster.client(await cluster.token(alice, [room]), options);
      const bobSocket = await cluster.client(await cluster.token(bob, [room]), options);
      // The gateway balances handshakes round-robin; the point of the test is a cross-node delivery.
      assert.notEqual(nodeOf(aliceSocket), nodeOf(bobSocket), "alice and bob should be on different nodes");

      assert.deepEqual(await request(aliceSocket, "join", { room }), { ok: true, room, seq: 0 });
      assert.deepEqual(await request(bobSocket, "join", { room }), { ok: true, room, seq: 0 });

      const delivered = nextEvent<ChatMessage>(bobSocket, "message", (m) => m.room === room);
      const echoed = nextEvent<ChatMessage>(aliceSocket, "message", (m) => m.room === room);
      const ack = await request<{ ok: boolean; id: string; seq: number; ts: number }>(aliceSocket, "send", {
        room,
        clientId: "c-1",
        text: "hello bob",
        meta: { kind: "greeting" },
      });
      assert.equal(ack.ok, true);
      assert.equal(ack.seq, 1);
      assert.match(ack.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);

      const message = await delivered;
      assert.deepEqual(message, {
        room,
        from: alice,
        clientId: "c-1",
        text: "hello bob",
        meta: { kind: "greeting" },
        id: ack.id,
        seq: 1,
        ts: ack.ts,
      });
      assert.deepEqual(await echoed, message);

      // The flusher writes it to Cassandra: read the row directly.
      const row = await eventually("row in messages_by_room", async () => {
        const bucket = bucketOf(ack.ts, DEFAULT_STREAM_CONFIG.bucketWidthInMs);
        const result = await cluster.cassandra.execute("SELECT id, sender, body, seq FROM messages_by_room WHERE room = ? AND bucket = ?", [
          room,
          bucket,
        ]);
        return result.first() ?? undefined;
      });
      assert.equal(row["id"], ack.id);
      assert.equal(row["sender"], alice);
      assert.equal(row["body"], "hello bob");

      // Once flushed, the stream entry is gone; drop the recent-history copy too, so history
      // can only come from Cassandra. The key's name is the product's own: a renamed key must
      // fail here rather than leave history reading Redis.
      const keys = new RedisKeys(cluster.prefix, DEFAULT_STREAM_CONFIG.shards);
      assert.equal(await cluster.redis.del(keys.roomRecent(room)), 1, "the room's recent history was in Redis under RedisKeys.roomRecent");
      const page = await request<{ ok: boolean; messages: ChatMessage[]; more: boolean }>(bobSocket, "history", { room });
      assert.deepEqual(page, { ok: true, messages: [message], more: false });
    });
  });
}

test("logs never contain a token or a message's text", async () => {
  const room = `logs-${tag}`;
  const secretText = `do-not-log-${Date.now()}`;
  const token = await cluster.token(carol, [room]);
  const carolSocket = await cluster.client(token);
  assert.equal((await request(carolSocket, "join", { room })).ok, true);
  assert.equal((await request(carolSocket, "send", { room, clientId: "log-1", text: secretText })).ok, true);
  // Failures log too: a forbidden send, an oversized one, and a bad token on REST and on connect.
  await request(carolSocket, "send", { room: "elsewhere", clientId: "log-2", text: secretText });
  await request(carolSocket, "send", { room, clientId: "log-3", text: secretText.repeat(400) });
  await fetch(`${cluster.url}/api/me/rooms`, { headers: { authorization: `Bearer ${token}x` } });
  await assert.rejects(cluster.client(`${token}x`));
  await eventually("flushed", async () =>
    (
      await cluster.cassandra.execute("SELECT seq FROM messages_by_room WHERE room = ? AND bucket = ?", [
        room,
        bucketOf(Date.now(), DEFAULT_STREAM_CONFIG.bucketWidthInMs),
      ])
    ).rowLength > 0
      ? true
      : undefined,
  );
  carolSocket.disconnect();

  const logs = [...cluster.apps.nodes, cluster.apps.flusher].map((app) => readFileSync(app.process.logFile, "utf8"));
  assert.ok(
    logs.every((log) => log.length > 0),
    "every process logged something",
  );
  for (const log of logs) {
    assert.equal(log.includes(secretText), false, "a message text reached a log");
    assert.equal(log.includes(token.split(".")[2]!), false, "a token reached a log");
    assert.equal(log.includes(TEST_JWT_SECRET), false, "the JWT secret reached a log");
    // Every JSON line is an ECS document, as the log shipper and Elasticsearch expect it.
    const documents = log
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(documents.length > 0, "the process wrote JSON log lines");
    for (const document of documents) {
      assert.equal(typeof document["@timestamp"], "string", `no @timestamp: ${JSON.stringify(document)}`);
      assert.equal(typeof document["log.level"], "string");
      assert.equal(typeof document["ecs.version"], "string");
      assert.equal(document["service.name"], "chat-cluster");
    }
  }
});
