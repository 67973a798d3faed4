/**
 * SDK clients for the integration tests: a ChatClient on the real socket.io transport, with
 * the messages it emitted recorded in order, and the checks every SDK fault test ends with.
 */
import assert from "node:assert/strict";
import { ChatClient } from "../../client/client.js";
import { socketIoTransport, type SocketIoTransport } from "../../client/socketio-transport.js";
import type { Message } from "../../client/protocol.js";
import type { OutboxStore } from "../../client/outbox-store.js";
import type { ChatError } from "../../client/errors.js";

export interface SdkUser {
  name: string;
  client: ChatClient;
  transport: SocketIoTransport;
  /** Every `message` event, in the order the client emitted them. */
  received: Message[];
  errors: ChatError[];
  /** When the client's states were entered (ms since the epoch), latest last. */
  states: Array<{ state: string; at: number }>;
  syncedAt: number[];
}

export interface SdkUserOptions {
  store?: OutboxStore;
  /** socket.io-client's transports; default WebSocket only, ["polling", "websocket"] is what a browser starts with. */
  transports?: Array<"polling" | "websocket">;
}

export function sdkUser(name: string, url: string, token: string, { store, transports = ["websocket"] }: SdkUserOptions = {}): SdkUser {
  // Backoff tighter than the defaults (500 ms first, 30 s at most) so outages in the tests cost seconds, not minutes.
  const transport = socketIoTransport(url, { transports });
  const client = new ChatClient({ token, transport, store, backoff: { initialDelayInMs: 200, maxDelayInMs: 2000 } });
  const user: SdkUser = { name, client, transport, received: [], errors: [], states: [], syncedAt: [] };
  client.on("message", (message) => user.received.push(message));
  client.on("error", (error) => user.errors.push(error));
  client.on("state", (state) => user.states.push({ state, at: Date.now() }));
  client.on("synced", () => user.syncedAt.push(Date.now()));
  client.connect();
  return user;
}

/** The node serving the user (this cluster's engine.io session ids start with the node's name). */
export function nodeOfUser(user: SdkUser): string | undefined {
  const id = user.transport.sessionId;
  return id?.slice(0, id.indexOf("-"));
}

export async function until(what: string, condition: () => boolean, timeoutInMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutInMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutInMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Each user saw every text exactly once, in one order by seq 1..N without a gap, the same
 * for all; the room model holds the same. `texts` are all sent, each unique.
 */
export function assertEveryMessageOnceInOrder(users: SdkUser[], room: string, texts: string[]): void {
  const expected = [...texts].sort();
  for (const user of users) {
    const seen = user.received.filter((message) => message.room === room);
    assert.deepEqual(
      seen.map((message) => message.seq),
      Array.from({ length: texts.length }, (_, i) => i + 1),
      `${user.name}: seqs 1..${texts.length} in order, once each`,
    );
    assert.deepEqual(seen.map((message) => message.text).sort(), expected, `${user.name}: every text once`);
    assert.deepEqual(
      user.client.room(room)?.messages.map((message) => message.seq),
      seen.map((message) => message.seq),
      `${user.name}: the room model holds the same`,
    );
  }
  const [first, ...others] = users.map((user) =>
    user.received.filter((message) => message.room === room).map((message) => `${message.seq}:${message.from}:${message.text}`),
  );
  for (const other of others) assert.deepEqual(other, first, "every user saw the same log");
}
