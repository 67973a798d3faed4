/**
 * Shared pieces of the protocol suites (docs/protocol.md, black-box through the gateway): ack
 * shapes, error assertions, names no other test uses, "the cluster is still up" checks, and a
 * watcher that proves nothing leaked into a room it did not ask for.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Socket } from "socket.io-client";
import type { ChatMessage } from "../../storage/message.js";
import { httpRequest, nextEvent, nodeOf, request, type TestCluster } from "../fixture.js";

export type ErrorCode = "BAD_REQUEST" | "FORBIDDEN" | "NOT_FOUND" | "TOO_LARGE" | "RATE_LIMITED" | "UNAVAILABLE" | "INTERNAL";
export interface ErrorAck {
  ok: false;
  error: { code: ErrorCode; message: string; retryAfterMs?: number };
}
export type Ack<T = Record<string, unknown>> = ({ ok: true } & T) | ErrorAck;
export type SendResult = { id: string; seq: number; ts: number; duplicate?: boolean };
export type Page = { messages: ChatMessage[]; more: boolean };
export type RoomEntry = { room: string; lastSeq: number; readSeq: number; unread: number };

/**
 * A tag for user and room names. The Cassandra keyspace is shared by every file of a test run
 * (only Redis keys are prefixed per cluster), so names must not repeat across files.
 */
/** A message id: a ULID in Crockford base 32. */
export const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export function uniqueTag(): string {
  return randomBytes(4).toString("hex");
}

/** Asserts an `{ ok: false, error: { code } }` ack with a non-empty message; returns the error. */
export function assertError(ack: unknown, code: ErrorCode, what = ""): ErrorAck["error"] {
  const reply = ack as ErrorAck;
  assert.equal(typeof reply, "object", `${what}: ack should be an object, got ${JSON.stringify(ack)}`);
  assert.equal(reply?.ok, false, `${what}: expected ok: false with ${code}, got ${JSON.stringify(ack)}`);
  assert.equal(reply.error?.code, code, `${what}: expected ${code}, got ${JSON.stringify(ack)}`);
  assert.equal(typeof reply.error.message, "string", `${what}: error.message should be a string`);
  assert.ok(reply.error.message.length > 0, `${what}: error.message should not be empty`);
  return reply.error;
}

/** Asserts `{ ok: true, ... }` and returns the ack. */
export function assertOk<T>(ack: Ack<T>, what = ""): { ok: true } & T {
  assert.equal(ack?.ok, true, `${what}: expected ok: true, got ${JSON.stringify(ack)}`);
  return ack as { ok: true } & T;
}

export async function send(
  socket: Socket,
  room: string,
  clientId: string,
  text: string,
  meta?: Record<string, unknown>,
): Promise<Ack<SendResult>> {
  return request<Ack<SendResult>>(socket, "send", meta === undefined ? { room, clientId, text } : { room, clientId, text, meta });
}

/**
 * No node process has exited, every node answers /readyz 200 directly, and so does the gateway:
 * what "no crash" means after hostile input.
 */
export async function assertClusterAlive(cluster: TestCluster): Promise<void> {
  for (const [index, node] of cluster.apps.nodes.entries()) {
    assert.equal(
      node.process.child.exitCode,
      null,
      `node ${index + 1} exited with ${node.process.child.exitCode}; see ${node.process.logFile}`,
    );
    assert.equal(node.process.child.signalCode, null, `node ${index + 1} was killed by ${node.process.child.signalCode}`);
    const ready = await httpRequest(`${cluster.nodeUrl(index)}/readyz`);
    assert.equal(ready.status, 200, `node ${index + 1} /readyz`);
  }
  assert.equal((await cluster.http("/readyz")).status, 200, "gateway /readyz");
}

/**
 * A socket that joined a room of its own and records every server event it gets. `assertQuiet`
 * sends a sentinel into that room through every node and, once all sentinels arrived, asserts
 * nothing else came before them: the barrier that makes "received nothing" a deterministic check.
 *
 * Why through every node: an event leaked by node X reaches the watcher's node through Redis.
 * X publishes it before it handles a later send, on the same Redis connection, and Redis
 * delivers one publisher's messages in order; so once X's sentinel arrived, anything X leaked
 * before it has arrived too. A sentinel sent only on the watcher's own node is delivered
 * locally and proves nothing about the other nodes.
 */
export class Watcher {
  private readonly received: { event: string; args: unknown[] }[] = [];
  private sentinels = 0;

  private constructor(
    readonly socket: Socket,
    readonly room: string,
    /** One sender per node (the watcher itself on its own node). */
    private readonly senders: readonly Socket[],
  ) {
    socket.onAny((event: string, ...args: unknown[]) => this.received.push({ event, args }));
  }

  static async start(
    cluster: TestCluster,
    userId: string,
    room: string,
    options: Parameters<TestCluster["client"]>[1] = {},
  ): Promise<Watcher> {
    const token = await cluster.token(userId, [room]);
    const socket = await cluster.client(token, options);
    assertOk(await request<Ack>(socket, "join", { room }), "watcher join");
    // The other nodes' senders are another user: each user's sends stay at one per barrier,
    // well inside the per-user rate limit however many barriers a suite raises.
    const relayToken = await cluster.token(`${userId}-relay`, [room]);
    const watcher = new Watcher(socket, room, [socket, ...(await socketsOnOtherNodes(cluster, relayToken, socket))]);
    // Whatever its own join caused (a presence event, say) arrives before this first sentinel.
    await watcher.sentinel();
    watcher.received.length = 0;
    return watcher;
  }

  async assertQuiet(what: string): Promise<void> {
    const clientIds = await this.sentinel();
    const others = this.received.filter(
      ({ event, args }) => !(event === "message" && clientIds.includes((args[0] as ChatMessage).clientId)),
    );
    assert.deepEqual(others, [], `${what}: the watcher in another room received events`);
    this.received.length = 0;
  }

  /** Sends a message to the watcher's room through every node and waits for all; returns their clientIds. */
  private async sentinel(): Promise<string[]> {
    const round = ++this.sentinels;
    const clientIds = this.senders.map((_, i) => `sentinel-${round}-${i}`);
    const arrived = clientIds.map((clientId) =>
      nextEvent<ChatMessage>(this.socket, "message", (m) => m.room === this.room && m.clientId === clientId),
    );
    for (const [i, sender] of this.senders.entries()) assertOk(await send(sender, this.room, clientIds[i]!, "sentinel"), "sentinel send");
    await Promise.all(arrived);
    return clientIds;
  }
}

/** One client on each node other than `socket`'s (the gateway balances handshakes round-robin). */
async function socketsOnOtherNodes(cluster: TestCluster, token: string, socket: Socket): Promise<Socket[]> {
  const wanted = cluster.apps.nodes.length - 1;
  const found = new Map<string, Socket>();
  for (let attempt = 0; found.size < wanted && attempt < 4 * cluster.apps.nodes.length; attempt++) {
    const candidate = await cluster.client(token);
    const node = nodeOf(candidate);
    if (node === nodeOf(socket) || found.has(node)) candidate.disconnect();
    else found.set(node, candidate);
  }
  if (found.size < wanted)
    throw new Error(`could not reach every node through the gateway: found ${found.size + 1} of ${cluster.apps.nodes.length}`);
  return [...found.values()];
}

/**
 * Sends `count` messages to `room` from several users, sequentially, at most `perUser` each
 * (below the default burst of 40, so the rate limit is not what the test measures). Returns
 * the acks in send order.
 */
export async function fillRoom(cluster: TestCluster, room: string, count: number, userPrefix: string, perUser = 35): Promise<SendResult[]> {
  const acks: SendResult[] = [];
  let socket: Socket | undefined;
  for (let i = 0; i < count; i++) {
    if (i % perUser === 0) {
      socket?.disconnect();
      socket = await cluster.client(await cluster.token(`${userPrefix}${i / perUser}`, [room]));
    }
    acks.push(assertOk(await send(socket!, room, `fill-${i}`, `message ${i}`), `fill ${i}`));
  }
  socket?.disconnect();
  return acks;
}

/** Every message of the room, paging history backwards until `more` is false. */
export async function wholeHistory(socket: Socket, room: string): Promise<ChatMessage[]> {
  const pages: ChatMessage[][] = [];
  let beforeSeq: number | undefined;
  for (;;) {
    const page = assertOk(
      await request<Ack<Page>>(socket, "history", beforeSeq === undefined ? { room, limit: 100 } : { room, beforeSeq, limit: 100 }),
      "history page",
    );
    pages.unshift(page.messages);
    if (!page.more || page.messages.length === 0) break;
    beforeSeq = page.messages[0]!.seq;
  }
  return pages.flat();
}

/** Records every `event` the socket receives from now on, until `stop()`. */
export function collect<T>(socket: Socket, event: string): { values: T[]; stop(): T[] } {
  const values: T[] = [];
  const listener = (value: T) => values.push(value);
  socket.on(event, listener);
  return {
    values,
    stop() {
      socket.off(event, listener);
      return values;
    },
  };
}

/**
 * A client through the gateway on a different node than `other`. The gateway balances
 * handshakes round-robin, so a second attempt lands elsewhere; the loop is bounded and says so.
 */
export async function clientOnOtherNode(
  cluster: TestCluster,
  token: string,
  other: Socket,
  options: Parameters<TestCluster["client"]>[1] = {},
): Promise<Socket> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const socket = await cluster.client(token, options);
    if (nodeOf(socket) !== nodeOf(other)) return socket;
    socket.disconnect();
  }
  throw new Error(`the gateway put 4 handshakes in a row on ${nodeOf(other)}`);
}
