/**
 * A reconnect storm on one room: 200 clients send `join { since }` at once. The node's history
 * reads of that room coalesce (storage/coalescing-history.ts): the reads that reach storage,
 * counted by chat_history_storage_reads_total, are at most one per coalescing window, and every
 * client still gets exactly the messages after its own `since`. The room's messages are only in
 * Cassandra (CHAT_RECENT_KEEP_PER_ROOM=0, write buffer drained), so each read is a Cassandra read.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";
import type { Socket } from "socket.io-client";
import { RedisKeys } from "../../storage/keys.js";
import { eventually, request, startTestCluster, type TestCluster } from "../fixture.js";

const JOINS = 200;
const MESSAGES = 60;
const WINDOW_IN_MS = 200;
const SHARDS = 4;

let cluster: TestCluster | undefined;
after(async () => cluster?.stop());

async function counter(nodeUrl: string, name: string, kind: string): Promise<number> {
  const text = await (await fetch(`${nodeUrl}/metrics`)).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name}{`) && candidate.includes(`kind="${kind}"`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

test(
  `${JOINS} concurrent join { since } of one room: at most one storage read per coalescing window, each client its own messages`,
  { timeout: 120_000 },
  async () => {
    cluster = await startTestCluster({
      nodeCount: 1,
      env: {
        CHAT_RECENT_KEEP_PER_ROOM: "0",
        CHAT_STREAM_SHARDS: String(SHARDS),
        CHAT_HISTORY_COALESCE_WINDOW_MS: String(WINDOW_IN_MS),
        CHAT_SENDS_PER_SECOND: "1000",
        CHAT_SEND_BURST: "1000",
      },
    });
    const room = `storm-${randomBytes(4).toString("hex")}`;
    const sender = await cluster.client(await cluster.token(`sender-${room}`, [room]));
    for (let i = 0; i < MESSAGES; i++) {
      const ack = await request<{ ok: boolean; seq: number }>(sender, "send", { room, clientId: `m${i}`, text: `message ${i}` });
      assert.equal(ack.ok, true);
    }
    const redis = cluster.redis;
    await eventually(
      "the write buffer drained to Cassandra",
      async () =>
        (await Promise.all(new RedisKeys(cluster!.prefix, SHARDS).streams().map((stream) => redis.xlen(stream)))).every(
          (left) => left === 0,
        )
          ? true
          : undefined,
      60_000,
    );

    const sockets: Socket[] = [];
    for (let i = 0; i < JOINS; i += 20) {
      sockets.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(20, JOINS - i) }, async (_, k) =>
            cluster!.client(await cluster!.token(`member-${i + k}-${room}`, [room])),
          ),
        )),
      );
    }
    const nodeUrl = cluster.nodeUrl(0);
    const readsBefore = await counter(nodeUrl, "chat_history_storage_reads_total", "since");
    const requestsBefore = await counter(nodeUrl, "chat_history_requests_total", "since");

    // Each client was last at a different seq.
    const sinceOf = (i: number) => i % (MESSAGES - 1);
    const started = Date.now();
    const answers = await Promise.all(
      sockets.map((socket, i) =>
        request<{ ok: boolean; seq: number; messages: { seq: number }[]; more: boolean }>(socket, "join", { room, since: sinceOf(i) }),
      ),
    );
    const elapsedInMs = Date.now() - started;

    answers.forEach((answer, i) => {
      assert.equal(answer.ok, true, JSON.stringify(answer));
      assert.equal(answer.seq, MESSAGES);
      assert.deepEqual(
        answer.messages.map((m) => m.seq),
        Array.from({ length: MESSAGES - sinceOf(i) }, (_, k) => sinceOf(i) + 1 + k),
      );
      assert.equal(answer.more, false);
    });
    const reads = (await counter(nodeUrl, "chat_history_storage_reads_total", "since")) - readsBefore;
    const requests = (await counter(nodeUrl, "chat_history_requests_total", "since")) - requestsBefore;
    const windows = 1 + Math.floor(elapsedInMs / WINDOW_IN_MS);
    console.log(
      `# join storm: ${requests} join { since } in ${elapsedInMs} ms → ${reads} storage reads (at most ${windows} windows of ${WINDOW_IN_MS} ms)`,
    );
    assert.equal(requests, JOINS);
    assert.ok(reads >= 1 && reads <= windows, `${reads} storage reads for ${JOINS} joins within ${elapsedInMs} ms (${windows} windows)`);
  },
);
