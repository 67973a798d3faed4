import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Socket as ServerSocket } from "socket.io";
import { io as connectClient, type Socket as ClientSocket } from "socket.io-client";
import { z } from "zod";
import { createLogger } from "../../common/logger.js";
import { createRegistry } from "../../common/metrics.js";
import { mintToken } from "../../scripts/lib/tokens.js";
import { TokenVerifier } from "../auth/tokens.js";
import { ChatError } from "../chat/errors.js";
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

async function startNode() {
  const uws = loadNativeUws();
  const app = uws.App();
  const metrics = createNodeMetrics(createRegistry("node", "io-test"));
  const logger = createLogger("io-test", "silent");
  const options = { nodeName: "io-test", acceptsClients: () => true, allowedOrigins: [], verifier: TokenVerifier.fromConfig({ secret: SECRET, publicKeyPem: undefined }), metrics, logger };
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
  const left: { principal: Principal; rooms: string[] }[] = [];
  onConnection(io, [bindEvent(echo, metrics, logger)], options, (principal, rooms) => left.push({ principal, rooms }));
  const listenSocket = await new Promise<unknown>((resolve, reject) => app.listen("127.0.0.1", 0, (socket) => (socket ? resolve(socket) : reject(new Error("could not listen")))));
  const url = `http://127.0.0.1:${uws.us_socket_local_port(listenSocket as never)}`;
  const clients: ClientSocket[] = [];
  return {
    io,
    metrics,
    left,
    handled,
    async client(user: string, ttlInSeconds = 3600): Promise<ClientSocket> {
      const socket = connectClient(url, { transports: ["websocket"], reconnection: false, auth: { token: await mintToken({ secret: SECRET, userId: user, ttlInSeconds }) } });
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
      io.close();
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
    const exp = (JSON.parse(Buffer.from((client.auth as { token: string }).token.split(".")[1]!, "base64url").toString()) as { exp: number }).exp * 1000;
    const serverSocket = node.serverSocket(client);
    await serverSocket.join("lobby");
    const serverReason = new Promise<string>((resolve) => serverSocket.once("disconnect", resolve));
    const reason = await new Promise<string>((resolve, reject) => {
      // A bound only so a broken wheel fails instead of hanging: far above any timing.
      const timer = setTimeout(() => reject(new Error("the socket was not disconnected within 15 s of its token's expiry")), exp - Date.now() + 15_000);
      client.once("disconnect", (why) => (clearTimeout(timer), resolve(why)));
    });
    const at = Date.now();
    assert.equal(reason, "io server disconnect", "the server ended the session (not a transport or ping failure)");
    assert.equal(await serverReason, "server namespace disconnect", "the node disconnected the socket itself");
    assert.ok(at >= exp, `disconnected ${exp - at} ms before the token expired`);
    assert.ok(keeper.connected, "a socket whose token is still valid stays connected");
    assert.deepEqual(node.left.filter(({ principal }) => principal.userId === "shorty").map(({ rooms }) => rooms), [["lobby"]]);
    assert.deepEqual(node.left.filter(({ principal }) => principal.userId === "keeper"), [], "the valid socket left no room");
  } finally {
    node.disconnectClients();
  }
  // Once the node has seen the last client go, every connection has been counted out.
  await keeperGone;
  assert.equal((await node.metrics.connections.get()).values[0]?.value, 0);
});
