/**
 * Components going away under load, through the gateway:
 * - a rolling restart of both socket nodes (SIGTERM → draining → exit → start on the same port)
 *   while clients send continuously. The clients are stock socket.io clients as far as
 *   reconnecting goes (no `draining` handler, no reconnect of their own): the node closes their
 *   transport after `reconnectAfterMs` and socket.io-client reconnects through the gateway by
 *   itself; the clients then re-join with `since` and resend unacknowledged messages with the
 *   same clientId: afterwards every acknowledged message is in history exactly once, seqs are
 *   1..N, and every client saw every message;
 * - the flusher stopped until the write buffer is full: `UNAVAILABLE` with retryAfterMs on the
 *   socket, 503 on REST, the refused message neither acknowledged, delivered nor stored.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Socket } from "socket.io-client";
import type { ChatMessage } from "../../storage/message.js";
import { eventually, nextEvent, nodeOf, request, startTestCluster, type TestCluster } from "../fixture.js";
import { assertClusterAlive, assertError, assertOk, collect, send, uniqueTag, wholeHistory, type Ack, type SendResult } from "./helpers.js";

const tag = uniqueTag();
const user = (name: string) => `${name}-${tag}`;
/** Entries per shard = this / CHAT_STREAM_SHARDS (4): small enough to fill in a test. */
const BUFFER_MAX_ENTRIES = 400;

/**
 * Above the 2000 ms `reconnectAfterMs` a draining node announces, so the node closes its
 * connections at the transport level after that pause, as in production, and not earlier
 * because the deadline cut it short.
 */
const DRAIN_DEADLINE_MS = 6000;

let cluster: TestCluster;
before(
  async () =>
    (cluster = await startTestCluster({
      nodeCount: 2,
      env: {
        CHAT_BUFFER_MAX_ENTRIES: String(BUFFER_MAX_ENTRIES),
        CHAT_STREAM_SHARDS: "4",
        CHAT_DRAIN_DEADLINE_MS: String(DRAIN_DEADLINE_MS),
      },
    })),
);
after(async () => cluster?.stop());

/**
 * A client as the contract asks one to behave: after each (re)connect it re-joins with `since`
 * its last contiguous seq, and it resends a message until it is acknowledged, always with the
 * same clientId. Reconnecting itself is left to socket.io-client (`reconnection: true`): it
 * only records `draining` and why it was disconnected, so the test proves that a draining node
 * makes stock clients reconnect.
 */
class PersistentSender {
  readonly acked = new Map<string, SendResult>();
  readonly seen = new Set<number>();
  /** The node of each connection, the first included. */
  readonly nodes: string[];
  /** Connections made, the first included. */
  connects = 1;
  /** The payloads of the `draining` events received. */
  readonly drainings: unknown[] = [];
  /** socket.io-client's reason for each disconnect. */
  readonly disconnectReasons: string[] = [];
  /** For each disconnect, whether a `draining` came before it on that connection. */
  readonly drainedBeforeDisconnect: boolean[] = [];
  private drainingOnThisConnection = false;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    readonly userId: string,
    readonly room: string,
    readonly socket: Socket,
  ) {
    this.nodes = [nodeOf(socket)];
    socket.on("connect", () => {
      this.connects++;
      this.drainingOnThisConnection = false;
      this.nodes.push(nodeOf(socket));
      void this.catchUp();
    });
    socket.on("message", (message: ChatMessage) => {
      if (message.room === room) this.seen.add(message.seq);
    });
    socket.on("draining", (payload: unknown) => {
      this.drainings.push(payload);
      this.drainingOnThisConnection = true;
    });
    socket.on("disconnect", (reason) => {
      if (this.stopped) return;
      this.disconnectReasons.push(reason);
      this.drainedBeforeDisconnect.push(this.drainingOnThisConnection);
    });
  }

  static async start(userId: string, room: string): Promise<PersistentSender> {
    const socket = await cluster.client(await cluster.token(userId, [room]), {
      reconnection: true,
      reconnectionDelay: 200,
      reconnectionDelayMax: 1000,
    });
    const sender = new PersistentSender(userId, room, socket);
    assertOk(await request<Ack>(socket, "join", { room, since: 0 }), "first join");
    return sender;
  }

  /** The highest seq up to which every message was seen. */
  get contiguous(): number {
    let seq = 0;
    while (this.seen.has(seq + 1)) seq++;
    return seq;
  }

  run(intervalInMs: number): void {
    this.loop = (async () => {
      for (let n = 0; !this.stopped; n++) {
        const clientId = `${this.userId}-${n}`;
        this.acked.set(clientId, await this.deliver(clientId, `message ${n} from ${this.userId}`));
        await sleep(intervalInMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  close(): void {
    this.stopped = true;
    this.socket.disconnect();
  }

  private async deliver(clientId: string, text: string): Promise<SendResult> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (!this.socket.connected) {
        await sleep(50);
        continue;
      }
      let ack: Ack<SendResult>;
      try {
        ack = await this.socket.timeout(3000).emitWithAck("send", { room: this.room, clientId, text });
      } catch {
        continue; // no ack (disconnected or timed out): resend, same clientId
      }
      if (ack.ok) return ack;
      if (ack.error.code === "RATE_LIMITED" || ack.error.code === "UNAVAILABLE") {
        await sleep(ack.error.retryAfterMs ?? 100);
        continue;
      }
      throw new Error(`${clientId}: unexpected ack ${JSON.stringify(ack)}`);
    }
    throw new Error(`${clientId}: not acknowledged within 60 s`);
  }

  /** After each (re)connect: join with since, following `more` until caught up. */
  private async catchUp(): Promise<void> {
    try {
      for (;;) {
        const ack = await request<Ack<{ messages: ChatMessage[]; more: boolean }>>(this.socket, "join", {
          room: this.room,
          since: this.contiguous,
        });
        if (!ack.ok) return;
        for (const message of ack.messages) this.seen.add(message.seq);
        if (!ack.more) return;
      }
    } catch {
      // Disconnected again mid-join: the next connect catches up.
    }
  }
}

/** Waits until a fresh handshake through the gateway lands on `nodeName`: the gateway sees it up. */
async function untilGatewayRoutesTo(nodeName: string): Promise<void> {
  const token = await cluster.token(user("probe"), []);
  await eventually(
    `the gateway routing a handshake to ${nodeName}`,
    async () => {
      const socket = await cluster.client(token).catch(() => undefined);
      if (!socket) return undefined;
      const node = nodeOf(socket);
      socket.disconnect();
      return node === nodeName ? true : undefined;
    },
    20_000,
  );
}

async function untilEachSent(senders: PersistentSender[], moreThan: number[], what: string): Promise<void> {
  await eventually(what, async () => (senders.every((s, i) => s.acked.size > moreThan[i]! + 5) ? true : undefined), 30_000);
}

describe("rolling restart of both nodes under load", () => {
  test("every acknowledged message is in history exactly once; clients reconnect through the gateway and see everything", async () => {
    const room = `rolling-${tag}`;
    const senders: PersistentSender[] = [];
    for (let i = 0; i < 4; i++) senders.push(await PersistentSender.start(user(`roller${i}`), room));
    assert.deepEqual([...new Set(senders.map((s) => s.nodes[0]))].sort(), ["n1", "n2"], "the gateway spread the clients over both nodes");
    // 4 users × 10 messages/s: continuous traffic, under the per-user rate limit.
    for (const sender of senders) sender.run(100);
    const drainedExits: (number | string)[] = [];
    const drainedLogs: string[] = [];
    try {
      await untilEachSent(
        senders,
        senders.map(() => 0),
        "traffic before the restarts",
      );

      for (const [index, name] of ["n1", "n2"].entries()) {
        const before = senders.map((s) => s.acked.size);
        const old = cluster.apps.nodes[index]!;
        await cluster.restartNode(index);
        drainedExits.push(await old.process.exited);
        drainedLogs.push(old.process.logFile);
        await untilGatewayRoutesTo(name);
        await untilEachSent(senders, before, `traffic after restarting ${name}`);
      }
    } finally {
      await Promise.all(senders.map((s) => s.stop()));
    }

    const reconnections = senders.map((s) => s.connects - 1);
    const reader = await cluster.client(await cluster.token(user("rolling-reader"), [room]));
    const stored = await wholeHistory(reader, room);
    const acked = senders.flatMap((s) => [...s.acked.entries()].map(([clientId, ack]) => ({ clientId, from: s.userId, ...ack })));
    console.log(
      `rolling restart: ${acked.length} messages acknowledged, ${stored.length} stored; reconnections per client ${JSON.stringify(reconnections)}; ` +
        `draining events ${JSON.stringify(senders.map((s) => s.drainings.length))}; disconnect reasons ${JSON.stringify(senders.map((s) => s.disconnectReasons))}; nodes per client ${JSON.stringify(senders.map((s) => s.nodes))}; ` +
        `exit codes of the drained nodes ${JSON.stringify(drainedExits)}`,
    );

    for (const [i, sender] of senders.entries()) {
      assert.ok(sender.connects >= 2, `client ${i} reconnected through the gateway (connects: ${sender.connects})`);
      assert.ok(sender.drainings.length >= 1, `client ${i} was told its node was draining`);
      // socket.io-client reconnects by itself after a transport close, never after a
      // server-side DISCONNECT ("io server disconnect"); each drop came after a `draining`.
      assert.ok(
        sender.disconnectReasons.every((reason) => reason === "transport close" || reason === "transport error"),
        `client ${i} was dropped at the transport level, reasons: ${JSON.stringify(sender.disconnectReasons)}`,
      );
      assert.ok(
        sender.drainedBeforeDisconnect.every(Boolean),
        `client ${i} was told to drain before each drop: ${JSON.stringify(sender.drainedBeforeDisconnect)}`,
      );
      for (const payload of sender.drainings) {
        const { reconnectAfterMs } = payload as { reconnectAfterMs: unknown };
        assert.deepEqual(Object.keys(payload as object), ["reconnectAfterMs"], `draining payload ${JSON.stringify(payload)}`);
        assert.ok(
          typeof reconnectAfterMs === "number" && reconnectAfterMs >= 0,
          `draining { reconnectAfterMs } ${JSON.stringify(payload)}`,
        );
      }
    }
    assert.deepEqual(
      stored.map((m) => m.seq),
      Array.from({ length: stored.length }, (_, i) => i + 1),
      "seqs are 1..N: unique, no gaps",
    );
    assert.equal(new Set(stored.map((m) => m.id)).size, stored.length, "ids are unique");
    const storedByKey = new Map(stored.map((m) => [`${m.from}|${m.clientId}`, m]));
    assert.equal(storedByKey.size, stored.length, "each (from, clientId) is stored once");
    for (const ack of acked) {
      const message = storedByKey.get(`${ack.from}|${ack.clientId}`);
      assert.ok(message, `acknowledged ${ack.clientId} (seq ${ack.seq}) is in history`);
      assert.deepEqual([message.id, message.seq, message.ts], [ack.id, ack.seq, ack.ts], `${ack.clientId}: history matches its ack`);
    }
    assert.equal(stored.length, acked.length, "nothing is stored that was not acknowledged (every send was retried until acked)");

    // At-least-once delivery with join-since catch-up: every client saw every message.
    await eventually(
      "every client saw every seq",
      async () => (senders.every((s) => s.contiguous >= stored.length) ? true : undefined),
      15_000,
    ).catch(() => undefined);
    for (const [i, sender] of senders.entries()) {
      const missing = stored.map((m) => m.seq).filter((seq) => !sender.seen.has(seq));
      assert.deepEqual(missing, [], `client ${i} never saw these seqs, live or by join since`);
    }
    for (const sender of senders) sender.close();
    assert.deepEqual(drainedExits, [0, 0], `a node exits 0 after draining on SIGTERM; see ${drainedLogs.join(", ")}`);
    await assertClusterAlive(cluster);
  });
});

describe("write buffer full (flusher stopped)", () => {
  test("UNAVAILABLE with retryAfterMs on the socket and 503 on REST; the refused message is not delivered or stored; sending resumes once the flusher is back", async () => {
    const room = `full-${tag}`;
    const listener = await cluster.client(await cluster.token(user("full-listener"), [room]));
    assertOk(await request<Ack>(listener, "join", { room }));
    const delivered = collect<ChatMessage>(listener, "message");
    await cluster.apps.flusher.stop();

    // Fill the room's shard: several users, each below the burst limit.
    let refused: { clientId: string; socket: Socket; error: { retryAfterMs?: number } } | undefined;
    let accepted = 0;
    for (let u = 0; u < 12 && !refused; u++) {
      const socket = await cluster.client(await cluster.token(user(`filler${u}`), [room]));
      for (let i = 0; i < 35 && !refused; i++) {
        const clientId = `f${u}-${i}`;
        const ack = await send(socket, room, clientId, "filling the buffer");
        if (ack.ok) accepted++;
        else refused = { clientId, socket, error: assertError(ack, "UNAVAILABLE", "a send into a full buffer") };
      }
    }
    assert.ok(refused, `the buffer (${BUFFER_MAX_ENTRIES / 4} entries per shard) never filled after ${accepted} sends`);
    assert.ok((refused.error.retryAfterMs ?? 0) > 0, `UNAVAILABLE carries retryAfterMs: ${JSON.stringify(refused.error)}`);

    const rest = await cluster.http(`/api/rooms/${room}/messages`, {
      method: "POST",
      token: await cluster.token(user("full-rest"), [room]),
      body: { clientId: "rest-1", text: "via REST" },
    });
    assert.equal(rest.status, 503, rest.text);
    assert.equal(rest.body?.error?.code, "UNAVAILABLE");

    const stored = await wholeHistory(listener, room);
    assert.equal(stored.length, accepted, "only acknowledged messages are stored");
    assert.ok(!stored.some((m) => m.clientId === refused!.clientId || m.clientId === "rest-1"), "the refused messages are not stored");
    // Barrier: a typing event from the refused sender's socket travels the same path a wrongly
    // fanned-out message would have, after it.
    const typing = nextEvent(listener, "typing");
    assertOk(await request<Ack>(refused.socket, "typing", { room }));
    await typing;
    assert.deepEqual(
      delivered.stop().filter((m) => m.clientId === refused!.clientId || m.clientId === "rest-1"),
      [],
      "the refused messages were not delivered",
    );

    await cluster.restartFlusher();
    // Once the flusher drains the buffer the same clientId goes through, as a new message.
    const resent = await eventually(
      "a send accepted after the flusher is back",
      async () => {
        const ack = await send(refused!.socket, room, refused!.clientId, "filling the buffer");
        return ack.ok ? ack : undefined;
      },
      30_000,
    );
    assert.equal(resent.duplicate ?? false, false, "the refused message was never acknowledged, so it is not a duplicate");
    assert.equal(resent.seq, accepted + 1);
    await assertClusterAlive(cluster);
  });
});
