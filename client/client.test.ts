/** The client against the in-memory fake server (testing/fake-server.ts): no network, real timers. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, test } from "node:test";
import { ChatClient, type ChatClientOptions } from "./client.js";
import { ChatError } from "./errors.js";
import { IDBFactory } from "fake-indexeddb";
import { FileOutboxStore } from "./file-store.js";
import { IndexedDbOutboxStore, type IdbFactory } from "./indexeddb-store.js";
import { MemoryOutboxStore } from "./outbox-store.js";
import type { Message } from "./protocol.js";
import { FakeServer, fakeToken } from "./testing/fake-server.js";

const clients: ChatClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});
const indexedDb = new IDBFactory() as unknown as IdbFactory;
const dir = mkdtempSync(join(tmpdir(), "chat-client-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function start(server: FakeServer, options: Partial<ChatClientOptions> = {}): ChatClient {
  const client = new ChatClient({
    token: fakeToken("alice"),
    transport: server.transport(),
    backoff: { initialDelayInMs: 5, maxDelayInMs: 40 },
    gapFillDelayInMs: 10,
    requestTimeoutInMs: 1000,
    ...options,
  });
  clients.push(client);
  return client.connect();
}

/** Every message the client emitted, in emission order. */
function received(client: ChatClient): Message[] {
  const messages: Message[] = [];
  client.on("message", (message) => messages.push(message));
  return messages;
}

async function until(what: string, condition: () => boolean, timeoutInMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutInMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutInMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const seqs = (messages: readonly Message[]) => messages.map((message) => message.seq);

test("live entries out of order and repeated reach the application once each, in seq order", async () => {
  const server = new FakeServer();
  server.withhold = () => true;
  const client = start(server);
  const messages = received(client);
  await client.join("r");
  const posted = [1, 2, 3, 4].map((i) => server.post("r", "bob", `hello ${i}`));
  for (const index of [2, 0, 3, 0, 1, 2]) server.emitTo("r", "message", posted[index]);
  await until("four messages", () => messages.length === 4);
  assert.deepEqual(seqs(messages), [1, 2, 3, 4]);
  assert.deepEqual(seqs(client.room("r")!.messages), [1, 2, 3, 4]);
  // Nothing was missing, so no fill was needed.
  assert.equal(server.count("join"), 1);
});

test("a gap is filled with join { since } page after page until more: false", async () => {
  const server = new FakeServer();
  server.pageSize = 2;
  const client = start(server);
  const messages = received(client);
  await client.join("r");
  server.withhold = (entry) => entry.seq >= 2 && entry.seq <= 6;
  for (let i = 1; i <= 7; i += 1) server.post("r", "bob", `m${i}`);
  await until("seven messages", () => messages.length === 7);
  assert.deepEqual(seqs(messages), [1, 2, 3, 4, 5, 6, 7]);
  const fills = server.requests.filter((request) => request.event === "join" && request.payload["since"] !== undefined);
  assert.deepEqual(
    fills.map((request) => request.payload["since"]),
    [1, 3, 5],
    "three pages of two from seq 1 on (the third ends at the live 7)",
  );
});

test("after every reconnect each room is joined again with since = its last contiguous seq", async () => {
  const server = new FakeServer();
  const client = start(server);
  const messages = received(client);
  await Promise.all([client.join("a"), client.join("b")]);
  server.post("a", "bob", "a1");
  server.post("a", "bob", "a2");
  server.post("b", "bob", "b1");
  await until("three live", () => messages.length === 3);
  for (let round = 0; round < 2; round += 1) {
    const synced = new Promise((resolve) => client.on("synced", resolve));
    server.dropAll();
    await until("disconnected", () => client.state !== "connected");
    server.post("a", "bob", `missed a ${round}`);
    server.post("b", "bob", `missed b ${round}`);
    await synced;
  }
  const rejoins = server.requests
    .filter((request) => request.event === "join" && request.payload["since"] !== undefined)
    .map((request) => `${request.payload["room"]}>${request.payload["since"]}`);
  assert.deepEqual(rejoins.sort(), ["a>2", "a>3", "b>1", "b>2"]);
  assert.deepEqual(seqs(client.room("a")!.messages), [1, 2, 3, 4]);
  assert.deepEqual(seqs(client.room("b")!.messages), [1, 2, 3]);
  assert.equal(messages.length, 7, "each message once");
});

test("a send whose ack was lost is sent again after the reconnect with the same clientId: stored once", async () => {
  const server = new FakeServer();
  let first = true;
  server.intercept = (event) => {
    if (event !== "send" || !first) return undefined;
    first = false;
    // The server stores it, then the connection dies before the ack leaves.
    setImmediate(() => server.dropAll());
    return { drop: true, process: true };
  };
  const client = start(server);
  await client.join("r");
  const result = await client.send("r", "hello");
  const sends = server.requests.filter((request) => request.event === "send");
  assert.equal(sends.length, 2);
  assert.equal(sends[0]!.payload["clientId"], sends[1]!.payload["clientId"]);
  assert.equal(result.duplicate, true);
  assert.equal(result.seq, 1);
  assert.equal(server.logs.get("r")!.length, 1, "stored once");
  assert.equal(client.pending.length, 0);
});

test("sends made while offline wait in the outbox, keep their order, and go out once connected", async () => {
  const server = new FakeServer();
  server.refuse = () => (server.handshakes.length < 4 ? new ChatError("UNAVAILABLE", "down") : undefined);
  const client = start(server);
  const sizes: number[] = [];
  client.on("outbox", (size) => sizes.push(size));
  const sent = Promise.all(["one", "two", "three"].map((text) => client.send("r", text)));
  await until("three pending", () => client.pending.length === 3);
  const results = await sent;
  assert.deepEqual(
    results.map((result) => result.seq),
    [1, 2, 3],
  );
  assert.deepEqual(
    server.messages("r").map((message) => message.text),
    ["one", "two", "three"],
  );
  assert.equal(sizes.at(-1), 0);
});

for (const [kind, openStore] of [
  ["a file", () => new FileOutboxStore(join(dir, "reload.json"))],
  ["IndexedDB", () => new IndexedDbOutboxStore("chat-outbox-reload", indexedDb)],
] as const) {
  test(`the outbox survives a reload (${kind}): a new client on the same store sends what the old one could not`, async () => {
    const server = new FakeServer();
    // First page: the server stores the first send but its ack is lost, and the page goes
    // away before anything else is acknowledged.
    server.intercept = (event) => (event === "send" ? { drop: true, process: server.logs.get("r") === undefined } : undefined);
    const before = start(server, { store: openStore() });
    void before.send("r", "stored, ack lost").catch(() => undefined);
    void before.send("r", "never reached the server").catch(() => undefined);
    await until("two sends tried", () => server.count("send") >= 2);
    before.close();
    const clientIds = before.pending.map((operation) => operation.clientId);
    assert.equal(clientIds.length, 2);

    server.intercept = () => undefined;
    const reloaded = start(server, { store: openStore() });
    const sent: string[] = [];
    reloaded.on("sent", ({ operation }) => sent.push(operation.clientId));
    await until("both acknowledged", () => sent.length === 2);
    assert.deepEqual(sent, clientIds, "same clientIds, same order");
    assert.deepEqual(
      server.messages("r").map((message) => message.text),
      ["stored, ack lost", "never reached the server"],
    );
    assert.deepEqual(await openStore().load(), [], "the store is empty once acknowledged");
  });
}

test("RATE_LIMITED with retryAfterMs: the send is retried no sooner than told", async () => {
  const server = new FakeServer();
  const times: number[] = [];
  server.intercept = (event) => {
    if (event !== "send") return undefined;
    times.push(Date.now());
    return times.length === 1
      ? { ack: { ok: false, error: { code: "RATE_LIMITED", message: "slow down", retryAfterMs: 300 } } }
      : undefined;
  };
  const client = start(server);
  const result = await client.send("r", "hi");
  assert.equal(result.seq, 1);
  assert.equal(times.length, 2);
  assert.ok(times[1]! - times[0]! >= 300, `retried after ${times[1]! - times[0]!} ms`);
});

test("a refused handshake with retryAfterMs (HTTP 503 + Retry-After) is tried again no sooner than told", async () => {
  const server = new FakeServer();
  const times: number[] = [];
  server.refuse = () => {
    times.push(Date.now());
    return times.length === 1 ? new ChatError("UNAVAILABLE", "handshake answered HTTP 503", 300) : undefined;
  };
  const client = start(server);
  await until("connected", () => client.state === "connected");
  assert.ok(times[1]! - times[0]! >= 300, `retried after ${times[1]! - times[0]!} ms`);
});

test("a refusal for good rejects the send with a typed error and takes it out of the outbox", async () => {
  const server = new FakeServer();
  server.intercept = (event) =>
    event === "send" ? { ack: { ok: false, error: { code: "TOO_LARGE", message: "text too long" } } } : undefined;
  const client = start(server);
  const failed: string[] = [];
  client.on("failed", ({ error }) => failed.push(error.code));
  const error = await client.send("r", "x".repeat(10)).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  assert.ok(error instanceof ChatError);
  assert.equal(error.code, "TOO_LARGE");
  assert.equal(error.retryable, false);
  assert.deepEqual(failed, ["TOO_LARGE"]);
  assert.equal(client.pending.length, 0);
});

test("edit, react and delete go through the outbox and are applied to every client's message model", async () => {
  const server = new FakeServer();
  const alice = start(server);
  const bob = start(server, { token: fakeToken("bob") });
  await Promise.all([alice.join("r"), bob.join("r")]);
  const kinds: string[] = [];
  bob.on("change", ({ change }) => kinds.push(change.kind));
  const { id } = await alice.send("r", "first");
  await alice.send("r", "second");
  await alice.edit("r", id, "first, edited");
  await bob.react("r", id, "👍");
  await alice.react("r", id, "👍");
  await bob.react("r", id, "👍", false);
  await until("bob saw four changes", () => kinds.length === 4);
  let model = bob.room("r")!.messages;
  assert.equal(model[0]!.text, "first, edited");
  assert.deepEqual(model[0]!.reactions, [{ emoji: "👍", count: 1, users: ["alice"] }]);
  await alice.delete("r", id);
  await until("bob saw the delete", () => kinds.length === 5);
  model = bob.room("r")!.messages;
  assert.equal(model[0]!.deleted, true);
  assert.equal(model[0]!.text, "");
  assert.equal(model[1]!.text, "second");
  assert.deepEqual(bob.room("r")!.messages, alice.room("r")!.messages, "both clients agree");
  assert.deepEqual(alice.room("r")!.messages, server.messages("r"), "and agree with the server's read model");
  await assert.rejects(alice.edit("r", "no-such-id", "x"), (error: ChatError) => error.code === "NOT_FOUND");
});

test("the token provider is called again when the server refuses an expired token", async () => {
  const server = new FakeServer();
  const tokens = [fakeToken("alice", Date.now() - 1000, "expired"), fakeToken("alice", Date.now() + 3_600_000, "fresh")];
  let calls = 0;
  server.refuse = (token) => (token === tokens[0] ? new ChatError("UNAUTHORIZED", "token expired", undefined, "AUTH_EXPIRED") : undefined);
  const errors: string[] = [];
  const client = start(server, { token: () => tokens[Math.min(calls++, 1)]! });
  client.on("error", (error) => errors.push(`${error.code}/${error.reason}`));
  await until("connected", () => client.state === "connected");
  assert.equal(calls, 2);
  assert.deepEqual(server.handshakes, tokens);
  assert.deepEqual(errors, ["UNAUTHORIZED/AUTH_EXPIRED"]);
});

test("ahead of the token's expiry a fresh token is fetched and the session reopened with it; rooms catch up", async () => {
  const server = new FakeServer();
  let calls = 0;
  // exp has whole seconds: this token expires 2 to 3 s from now, refreshed 1 s before.
  const client = start(server, {
    token: () => fakeToken("alice", Date.now() + (calls++ === 0 ? 3000 : 3_600_000), `t${calls}`),
    refreshLeadInMs: 1000,
  });
  const messages = received(client);
  await client.join("r");
  server.post("r", "bob", "before");
  await until("a second handshake", () => server.handshakes.length === 2, 4000);
  server.post("r", "bob", "after");
  await until("both messages", () => messages.length === 2);
  assert.equal(calls, 2);
  assert.notEqual(server.handshakes[0], server.handshakes[1]);
  const rejoin = server.requests.filter((request) => request.event === "join").at(-1)!;
  assert.equal(rejoin.payload["since"], 1);
});

test("a session the server ended (its token expired) comes back with a token asked for again", async () => {
  const server = new FakeServer();
  let calls = 0;
  const client = start(server, { token: () => fakeToken("alice", Date.now() + 3_600_000, String(calls++)) });
  await until("connected", () => client.state === "connected");
  server.dropAll(true);
  await until("second handshake", () => server.handshakes.length === 2);
  assert.equal(calls, 2);
});

test("an invalid token that a fresh one does not cure closes the client, with typed errors", async () => {
  const server = new FakeServer();
  server.refuse = () => new ChatError("UNAUTHORIZED", "bad signature", undefined, "AUTH_INVALID");
  const client = start(server, { token: () => fakeToken("alice") });
  const errors: ChatError[] = [];
  client.on("error", (error) => errors.push(error));
  const joined = client.join("r");
  const sent = client.send("r", "kept for a later session");
  await until("closed", () => client.state === "closed");
  await assert.rejects(joined, (error: ChatError) => error.code === "CLOSED");
  await assert.rejects(sent, (error: ChatError) => error.code === "CLOSED");
  assert.equal(client.pending.length, 1, "the send stays in the outbox (and its store)");
  assert.equal(errors.length, 2);
  assert.ok(errors.every((error) => error.code === "UNAUTHORIZED" && !error.retryable && error.reason === "AUTH_INVALID"));
});

test("typing is throttled to one event per interval per room", async () => {
  const server = new FakeServer();
  const alice = start(server);
  const bob = start(server, { token: fakeToken("bob") });
  await Promise.all([alice.join("r"), alice.join("s"), bob.join("r"), bob.join("s")]);
  const seen: string[] = [];
  bob.on("typing", ({ room, user }) => seen.push(`${room}:${user}`));
  assert.equal(alice.typing("r"), true);
  assert.equal(alice.typing("r"), false);
  assert.equal(alice.typing("r"), false);
  assert.equal(alice.typing("s"), true, "another room has its own interval");
  await until("two typing events", () => seen.length === 2);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(seen.sort(), ["r:alice", "s:alice"]);
  assert.equal(server.count("typing"), 2);

  const quick = start(server, { token: fakeToken("carol"), typingIntervalInMs: 30 });
  await until("connected", () => quick.state === "connected");
  assert.equal(quick.typing("r"), true);
  assert.equal(quick.typing("r"), false);
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(quick.typing("r"), true);
});

test("presence, read pointers and rooms are requests with typed answers; requests wait for the session", async () => {
  const server = new FakeServer();
  server.intercept = (event) => {
    if (event === "presence") return { ack: { ok: true, users: ["alice", "bob"] } };
    if (event === "rooms") return { ack: { ok: true, rooms: [{ room: "r", lastSeq: 5, readSeq: 2, unread: 3 }] } };
    if (event === "read") return { ack: { ok: false, error: { code: "FORBIDDEN", message: "not your room" } } };
    return undefined;
  };
  const client = new ChatClient({ token: fakeToken("alice"), transport: server.transport(), store: new MemoryOutboxStore() });
  clients.push(client);
  const users = client.presence("r");
  client.connect();
  assert.deepEqual(await users, ["alice", "bob"]);
  assert.deepEqual((await client.rooms()).rooms[0], { room: "r", lastSeq: 5, readSeq: 2, unread: 3 });
  await assert.rejects(client.markRead("r", 3), (error: ChatError) => error instanceof ChatError && error.code === "FORBIDDEN");
});

test("an own message whose live event never comes is fetched: the ack's seq marks the gap", async () => {
  const server = new FakeServer();
  const client = start(server);
  const messages = received(client);
  await client.join("r");
  server.withhold = () => true;
  await client.send("r", "mine");
  await until("fetched", () => messages.length === 1);
  assert.equal(messages[0]!.text, "mine");
  assert.equal(server.requests.filter((request) => request.event === "join").at(-1)!.payload["since"], 0);
});

test("closing with sends pending rejects their promises with CLOSED, keeps them in the store, and leaves no unhandled rejection", async () => {
  const server = new FakeServer();
  server.refuse = () => new ChatError("UNAVAILABLE", "down");
  const store = new MemoryOutboxStore();
  const client = start(server, { store });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  const awaited = client.send("r", "awaited");
  void client.send("r", "fire and forget");
  await until("both pending", () => client.pending.length === 2);
  client.close();
  await assert.rejects(awaited, (error: ChatError) => error.code === "CLOSED" && !error.retryable);
  await new Promise((resolve) => setTimeout(resolve, 20));
  process.off("unhandledRejection", onUnhandled);
  assert.deepEqual(unhandled, []);
  assert.deepEqual(
    (await store.load()).map((operation) => (operation as { text: string }).text),
    ["awaited", "fire and forget"],
  );
});

test("a draining node: the client reopens its session by itself within reconnectAfterMs and catches up with since", async () => {
  const server = new FakeServer();
  const client = start(server);
  const messages = received(client);
  await client.join("r");
  server.post("r", "bob", "one");
  await until("one", () => messages.length === 1);
  const drainingAt = Date.now();
  server.emitTo("r", "draining", { reconnectAfterMs: 100 });
  await until("a second handshake", () => server.handshakes.length === 2, 2000);
  assert.ok(Date.now() - drainingAt < 1000, "reopened well before the node would close it");
  await until("rejoined", () => server.requests.filter((request) => request.event === "join").length === 2);
  assert.equal(server.requests.filter((request) => request.event === "join").at(-1)!.payload["since"], 1);
});

test("a join refused for good rejects with a typed error, is reported, and the room is not kept", async () => {
  const server = new FakeServer();
  server.intercept = (event, payload) =>
    event === "join" && payload["room"] === "secret"
      ? { ack: { ok: false, error: { code: "FORBIDDEN", message: "not allowed" } } }
      : undefined;
  const client = start(server);
  const errors: string[] = [];
  client.on("error", (error) => errors.push(error.code));
  await assert.rejects(
    client.join("secret"),
    (error: ChatError) => error instanceof ChatError && error.code === "FORBIDDEN" && !error.retryable,
  );
  assert.equal(client.room("secret"), undefined);
  assert.deepEqual(errors, ["FORBIDDEN"]);
  await client.join("open");
  assert.ok(client.room("open"));
});
