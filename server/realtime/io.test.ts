import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Socket as ServerSocket } from "socket.io";
import { io as connectClient, Manager, type Socket as ClientSocket } from "socket.io-client";
import { z } from "zod";
import { createLogger } from "../../common/logger.js";
import { createRegistry } from "../../common/metrics.js";
import { mintToken } from "../../scripts/lib/tokens.js";
import { TokenVerifier } from "../auth/tokens.js";
import { ChatError } from "../chat/errors.js";
import { DEFAULT_LIMITS } from "../chat/limits.js";
import type { Principal } from "../chat/principal.js";
import { createNodeMetrics } from "../metrics.js";
import { bindEvent, type EventDefinition } from "./dispatch.js";
import { createRealtime, isOriginAllowed, onConnection } from "./io.js";
import { loadNativeUws } from "./uws.js";

test("clients without an Origin header (not browsers) are let through to token auth", () => {
  assert.equal(isOriginAllowed(undefined, "chat.example:8080", []), true);
});

test("with an empty allow-list, only the same origin is allowed", () => {
  assert.equal(isOriginAllowed("http://chat.example:8080", "chat.example:8080", []), true);
  assert.equal(isOriginAllowed("http://evil.example", "chat.example:8080", []), false);
  assert.equal(isOriginAllowed("not a url", "chat.example:8080", []), false);
});

test("with an allow-list, exactly the listed origins are allowed", () => {
  const allowed = ["https://app.example"];
  assert.equal(isOriginAllowed("https://app.example", "chat.example", allowed), true);
  assert.equal(isOriginAllowed("https://app.example.evil", "chat.example", allowed), false);
  assert.equal(isOriginAllowed("http://chat.example", "chat.example", allowed), false);
});

// A real socket.io server on uWS and a real socket.io client: what an idle connection keeps,
// the shared event dispatcher and the token-expiry disconnect. One server for the whole file:
// attachApp patches socket.io's adapter for the process, so one uWS server per process.
const SECRET = "io-unit-test-secret-0123456789";
const AUTH_TIMEOUT_IN_MS = 1000;

async function startNode() {
  const uws = loadNativeUws();
  const app = uws.App();
  const metrics = createNodeMetrics(createRegistry("node", "io-test"));
  const logger = createLogger("io-test", "silent");
  // Fakes of the connection cap and the event budget: "crowded" (and any user put in `atCap`)
  // has no connection left, "spender" no budget; every other user is within both. The cap
  // counts its acquires and the verifier its verifications, for the early refusal.
  const held = new Map<string, number>();
  const atCap = new Set(["crowded"]);
  const calls = { acquire: 0, verify: 0 };
  const connections = {
    acquire: async (user: string) => {
      calls.acquire += 1;
      if (atCap.has(user)) return false;
      held.set(user, (held.get(user) ?? 0) + 1);
      return true;
    },
    release: (user: string) => void held.set(user, (held.get(user) ?? 0) - 1),
    refusesAtOnce: (user: string) => atCap.has(user),
  };
  const verifier = TokenVerifier.fromConfig({ secret: SECRET, publicKeyPem: undefined }, DEFAULT_LIMITS);
  const verify = verifier.verify.bind(verifier);
  verifier.verify = (token) => ((calls.verify += 1), verify(token));
  const options = {
    nodeName: "io-test",
    acceptsClients: () => true,
    allowedOrigins: [],
    verifier,
    connections,
    authTimeoutInMs: AUTH_TIMEOUT_IN_MS,
    maxOutgoingBufferBytes: DEFAULT_LIMITS.maxOutgoingBufferBytes,
    metrics,
    logger,
  };
  const io = createRealtime(app, options);
  const handled: string[] = [];
  const echoPayload = z.object({ value: z.string() });
  const echo: EventDefinition = {
    name: "echo",
    handle: async (payload, { socket, principal }) => {
      // What the chat domain does for real events: a payload that does not parse is a ChatError.
      const parsed = echoPayload.safeParse(payload);
      if (!parsed.success) throw new ChatError("BAD_REQUEST", "value must be a string");
      const { value } = parsed.data;
      handled.push(value);
      return { value, user: principal.userId, socket: socket.id };
    },
  };
  // Slow handlers that record how many run at once, for the per-socket turns.
  const concurrency = { now: 0, max: 0, order: [] as number[] };
  const slow: EventDefinition = {
    name: "slow",
    handle: async (payload) => {
      concurrency.now += 1;
      concurrency.max = Math.max(concurrency.max, concurrency.now);
      concurrency.order.push((payload as { i: number }).i);
      await new Promise((resolve) => setTimeout(resolve, 5));
      concurrency.now -= 1;
      return {};
    },
  };
  const left: { principal: Principal; rooms: string[] }[] = [];
  const admission = {
    admit: (principal: Principal) => {
      if (principal.userId === "spender") throw new ChatError("RATE_LIMITED", "too many requests, slow down", 20);
    },
    // A socket flooding at 10 × 5 = 50 events/s for 2 s is disconnected.
    eventsPerSecond: 5,
    floodDisconnectAfterMs: 2000,
  };
  onConnection(io, [bindEvent(echo, metrics, logger), bindEvent(slow, metrics, logger)], { ...options, ...admission }, (principal, rooms) =>
    left.push({ principal, rooms }),
  );
  const listenSocket = await new Promise<unknown>((resolve, reject) =>
    app.listen("127.0.0.1", 0, (socket) => (socket ? resolve(socket) : reject(new Error("could not listen")))),
  );
  const url = `http://127.0.0.1:${uws.us_socket_local_port(listenSocket as never)}`;
  const clients: ClientSocket[] = [];
  return {
    io,
    url,
    concurrency,
    held,
    atCap,
    calls,
    metrics,
    left,
    handled,
    async client(user: string, ttlInSeconds = 3600, transports = ["websocket"]): Promise<ClientSocket> {
      return this.clientWithToken(await mintToken({ secret: SECRET, userId: user, ttlInSeconds }), transports);
    },
    async clientWithToken(token: string, transports = ["websocket"]): Promise<ClientSocket> {
      const socket = connectClient(url, { transports, reconnection: false, auth: { token } });
      clients.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
      return socket;
    },
    serverSocket: (client: ClientSocket) => io.of("/").sockets.get(client.id!) as ServerSocket,
    disconnectClients() {
      for (const socket of clients.splice(0)) socket.disconnect();
    },
    stop() {
      this.disconnectClients();
      void io.close();
      uws.us_listen_socket_close(listenSocket as never);
    },
  };
}

let node: Awaited<ReturnType<typeof startNode>>;
before(async () => (node = await startNode()));
after(() => node.stop());

test("one shared dispatcher serves each socket with its own principal, and answers unknown events and bad payloads", async () => {
  try {
    const [alice, bob] = [await node.client("alice"), await node.client("bob")];
    assert.deepEqual(await alice.emitWithAck("echo", { value: "a" }), { ok: true, value: "a", user: "alice", socket: alice.id });
    assert.deepEqual(await bob.emitWithAck("echo", { value: "b" }), { ok: true, value: "b", user: "bob", socket: bob.id });
    assert.deepEqual(node.handled, ["a", "b"], "each event is handled exactly once");
    const unknown = (await alice.emitWithAck("ecko", { value: "a" })) as { ok: boolean; error: { code: string } };
    assert.equal(unknown.ok, false);
    assert.equal(unknown.error.code, "BAD_REQUEST");
    const bad = (await alice.emitWithAck("echo", { value: 7 })) as { ok: boolean; error: { code: string } };
    assert.equal(bad.error.code, "BAD_REQUEST");
  } finally {
    node.disconnectClients();
  }
});

test("an authenticated socket keeps neither the upgrade request nor the token", async () => {
  try {
    const alice = await node.client("alice");
    const socket = node.serverSocket(alice);
    assert.equal((socket.conn as unknown as { request: unknown }).request, null);
    assert.deepEqual(socket.handshake.auth, {});
    assert.equal(JSON.stringify(socket.handshake).includes("eyJ"), false, "a JWT is still in the handshake");
    assert.equal((socket.data.principal as Principal).userId, "alice");
  } finally {
    node.disconnectClients();
  }
});

test("a socket is disconnected by the server once its token expires, never before; a socket with a valid token stays; its rooms are reported", async () => {
  // When within the second the wheel fires is ExpiryWheel's own test (expiry.test.ts, on a
  // clock it moves by hand); here: that the node wires it, and to the right socket.
  let keeperGone: Promise<unknown> = Promise.resolve();
  try {
    const client = await node.client("shorty", 2);
    const keeper = await node.client("keeper");
    keeperGone = new Promise<unknown>((resolve) => node.serverSocket(keeper).once("disconnect", resolve));
    const exp =
      (JSON.parse(Buffer.from((client.auth as { token: string }).token.split(".")[1]!, "base64url").toString()) as { exp: number }).exp *
      1000;
    const serverSocket = node.serverSocket(client);
    await serverSocket.join("lobby");
    const serverReason = new Promise<string>((resolve) => serverSocket.once("disconnect", resolve));
    const reason = await new Promise<string>((resolve, reject) => {
      // A bound only so a broken wheel fails instead of hanging: far above any timing.
      const timer = setTimeout(
        () => reject(new Error("the socket was not disconnected within 15 s of its token's expiry")),
        exp - Date.now() + 15_000,
      );
      client.once("disconnect", (why) => (clearTimeout(timer), resolve(why)));
    });
    const at = Date.now();
    assert.equal(reason, "io server disconnect", "the server ended the session (not a transport or ping failure)");
    assert.equal(await serverReason, "server namespace disconnect", "the node disconnected the socket itself");
    assert.ok(at >= exp, `disconnected ${exp - at} ms before the token expired`);
    assert.ok(keeper.connected, "a socket whose token is still valid stays connected");
    assert.deepEqual(
      node.left.filter(({ principal }) => principal.userId === "shorty").map(({ rooms }) => rooms),
      [["lobby"]],
    );
    assert.deepEqual(
      node.left.filter(({ principal }) => principal.userId === "keeper"),
      [],
      "the valid socket left no room",
    );
  } finally {
    node.disconnectClients();
  }
  // Once the node has seen the last client go, every connection has been counted out.
  await keeperGone;
  assert.equal((await node.metrics.connections.get()).values[0]?.value, 0);
});

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function refusals(reason: string): Promise<number> {
  return (await node.metrics.refusals.get()).values.find((value) => value.labels.reason === reason)?.value ?? 0;
}

test("an event over 64 KB is answered TOO_LARGE through its ack, and the socket stays; without an ack the socket is closed", async () => {
  try {
    for (const transports of [["websocket"], ["polling"]]) {
      const client = await node.client("alice", 3600, transports);
      const big = { value: "x".repeat(70 * 1024) };
      const answer = (await client.timeout(5000).emitWithAck("echo", big)) as { ok: boolean; error: { code: string; message: string } };
      assert.equal(answer.ok, false, transports[0]);
      assert.equal(answer.error.code, "TOO_LARGE");
      assert.match(answer.error.message, /at most 65536/);
      assert.deepEqual(await client.emitWithAck("echo", { value: "still here" }), {
        ok: true,
        value: "still here",
        user: "alice",
        socket: client.id,
      });
      const closed = new Promise<string>((resolve) => client.once("disconnect", resolve));
      client.emit("echo", big);
      assert.ok(["transport close", "transport error"].includes(await closed), transports[0]);
    }
    assert.equal(await refusals("event_too_large"), 4);
    assert.equal(node.handled.includes("x".repeat(70 * 1024)), false, "no oversized event reached a handler");
  } finally {
    node.disconnectClients();
  }
});

test("a session that does not authenticate is closed after the auth timeout", async () => {
  const manager = new Manager(node.url, { transports: ["websocket"], reconnection: false, autoConnect: false });
  const started = Date.now();
  // Opens the engine.io session without ever sending socket.io's CONNECT (the auth).
  manager.open();
  await within(new Promise((resolve) => manager.once("close", resolve)), 5000, "the unauthenticated session's close");
  const after = Date.now() - started;
  assert.ok(after >= AUTH_TIMEOUT_IN_MS - 50 && after < AUTH_TIMEOUT_IN_MS + 1000, `closed after ${after} ms`);
  assert.equal(await refusals("auth_timeout"), 1, "counted once; the authenticated sessions that ended before are not");
});

test("a user without a connection left gets connect_error LIMIT_REACHED; a connection is released once when it ends", async () => {
  try {
    await assert.rejects(
      node.client("crowded"),
      (error: Error & { data?: { code: string } }) => error.message === "LIMIT_REACHED" && error.data?.code === "LIMIT_REACHED",
    );
    assert.equal(await refusals("connections_per_user"), 1);
    const client = await node.client("counted");
    assert.equal(node.held.get("counted"), 1);
    client.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(node.held.get("counted"), 0);
  } finally {
    node.disconnectClients();
  }
});

test("a token refused LIMIT_REACHED is refused again, the same way, without verifying it or asking the cap; once under the cap it gets in", async () => {
  const limitReached = (error: Error & { data?: { code: string; message: string } }) =>
    error.message === "LIMIT_REACHED" &&
    error.data?.code === "LIMIT_REACHED" &&
    error.data.message === "this user has too many connections open; close one first";
  try {
    node.atCap.add("hammer");
    const token = await mintToken({ secret: SECRET, userId: "hammer" });
    const before = { ...node.calls, refused: await refusals("connections_per_user") };
    await assert.rejects(node.clientWithToken(token), limitReached);
    await assert.rejects(node.clientWithToken(token), limitReached);
    await assert.rejects(node.clientWithToken(token, ["polling"]), limitReached);
    assert.deepEqual(
      [node.calls.verify - before.verify, node.calls.acquire - before.acquire, (await refusals("connections_per_user")) - before.refused],
      [1, 1, 3],
      "verified and acquired once; all three refusals counted",
    );
    // A connection of the user closed (somewhere): the cap no longer refuses at once, the same token gets in.
    node.atCap.delete("hammer");
    const client = await node.clientWithToken(token);
    assert.equal(node.held.get("hammer"), 1);
    client.disconnect();
  } finally {
    node.atCap.delete("hammer");
    node.disconnectClients();
  }
});

test("every event, unknown ones too, is charged first: a spent budget answers RATE_LIMITED before the handler", async () => {
  try {
    const client = await node.client("spender");
    for (const event of ["echo", "ecko"]) {
      const answer = (await client.emitWithAck(event, { value: "v" })) as { ok: boolean; error: { code: string; retryAfterMs: number } };
      assert.deepEqual([answer.ok, answer.error.code, answer.error.retryAfterMs], [false, "RATE_LIMITED", 20], event);
    }
    assert.equal(node.handled.includes("v"), false);
  } finally {
    node.disconnectClients();
  }
});

test("a socket that keeps sending at 10x the event rate is told RATE_LIMITED and disconnected; one below it is not", async () => {
  try {
    const [flooder, steady] = [await node.client("flooder"), await node.client("steady")];
    const closing = new Promise<{ code: string }>((resolve) => flooder.once("closing", resolve));
    const disconnected = new Promise<string>((resolve) => flooder.once("disconnect", resolve));
    let steadyDropped = false;
    steady.once("disconnect", () => (steadyDropped = true));
    const started = Date.now();
    // 60 events/s on the flooder (over 50), 40/s on the other (under), for up to 4 s.
    const timer = setInterval(() => {
      for (let i = 0; i < 3; i++) flooder.emit("echo", { value: "f" });
      for (let i = 0; i < 2; i++) steady.emit("echo", { value: "s" });
    }, 50);
    try {
      assert.deepEqual(await within(closing, 5000, "the flooder's closing event"), {
        code: "RATE_LIMITED",
        message: "too many events for too long; reconnect later and slow down",
      });
      assert.equal(await disconnected, "io server disconnect");
      const after = Date.now() - started;
      assert.ok(after >= 2000 && after < 4000, `disconnected after ${after} ms`);
      assert.equal(steadyDropped, false);
    } finally {
      clearInterval(timer);
    }
    assert.equal(await refusals("flood_disconnect"), 1);
  } finally {
    node.disconnectClients();
  }
});

test("at most 16 events of one socket are handled at once; the others wait their turn, in order, and all are answered", async () => {
  try {
    const client = await node.client("busy");
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => client.emitWithAck("slow", { i })));
    assert.equal(replies.length, 40);
    assert.ok(replies.every((reply) => (reply as { ok: boolean }).ok));
    assert.equal(node.concurrency.max, 16);
    assert.deepEqual(
      node.concurrency.order,
      Array.from({ length: 40 }, (_, i) => i),
    );
  } finally {
    node.disconnectClients();
  }
});

test("a token far over the limit (100 KB) is refused with connect_error AUTH_INVALID and its reason, not a dropped connection", async () => {
  const huge = await mintToken({ secret: SECRET, userId: "huge", rooms: Array.from({ length: 4000 }, (_, i) => `room-number-${i}:*`) });
  assert.ok(huge.length > 100_000);
  const socket = connectClient(node.url, { transports: ["websocket"], reconnection: false, auth: { token: huge } });
  try {
    const error = await within(
      new Promise<Error & { data?: unknown }>((resolve) => socket.once("connect_error", resolve)),
      5000,
      "connect_error",
    );
    assert.equal(error.message, "UNAUTHORIZED");
    assert.deepEqual(error.data, { code: "AUTH_INVALID", message: "the token is larger than 8192 bytes" });
  } finally {
    socket.disconnect();
  }
});
