/**
 * Room broadcasts reach every transport exactly once (server/realtime/broadcast.ts): websocket
 * clients through uWS's topic, long-polling clients through the node's set of polling sockets,
 * and a client that upgraded from polling to websocket through its topic only.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Socket } from "socket.io-client";
import type { ChatMessage } from "../../storage/message.js";
import { nextEvent, request, startTestCluster, type TestCluster } from "../fixture.js";
import { assertOk, send, uniqueTag } from "./helpers.js";

let cluster: TestCluster;
before(async () => {
  // One node: every socket is on it, so one broadcast serves them all.
  cluster = await startTestCluster({ nodeCount: 1 });
});
after(() => cluster.stop());

async function upgradedClient(token: string): Promise<Socket> {
  const socket = await cluster.client(token); // socket.io-client's default: polling, then upgrade
  const engine = socket.io.engine;
  if (engine.transport.name !== "websocket") await new Promise((resolve) => engine.once("upgrade", resolve));
  assert.equal(engine.transport.name, "websocket");
  return socket;
}

function collectMessages(socket: Socket, room: string): number[] {
  const seqs: number[] = [];
  socket.on("message", (message: ChatMessage) => {
    if (message.room === room) seqs.push(message.seq);
  });
  return seqs;
}

test("websocket, long-polling and upgraded members each get every message once, in order; a member that left gets none", async () => {
  const tag = uniqueTag();
  const room = `bc-${tag}`;
  const barrierRoom = `bc-${tag}-barrier`;
  const token = await cluster.token(`bc-user-${tag}`, [`bc-${tag}*`]);
  const members = {
    websocketA: await cluster.client(token, { transports: ["websocket"] }),
    websocketB: await cluster.client(token, { transports: ["websocket"] }),
    polling: await cluster.client(token, { transports: ["polling"], upgrade: false }),
    upgraded: await upgradedClient(token),
  };
  const left = await cluster.client(token, { transports: ["polling"], upgrade: false });
  assert.equal(members.polling.io.engine.transport.name, "polling");

  const everyone = [...Object.values(members), left];
  for (const socket of everyone) assertOk(await request(socket, "join", { room: barrierRoom }), "join the barrier room");
  for (const socket of everyone) assertOk(await request(socket, "join", { room }), "join");
  assertOk(await request(left, "leave", { room }), "leave");

  const received = new Map(everyone.map((socket) => [socket, collectMessages(socket, room)]));
  // The barrier message is written to each connection after the room's messages, so once it
  // arrived, every room message sent to that connection has arrived too.
  const barriers = everyone.map((socket) => nextEvent<ChatMessage>(socket, "message", (message) => message.room === barrierRoom));

  const count = 20;
  for (let i = 0; i < count; i++) assertOk(await send(members.websocketA, room, `m-${i}`, `message ${i}`), `send ${i}`);
  assertOk(await send(members.websocketA, barrierRoom, "barrier", "barrier"), "barrier send");
  await Promise.all(barriers);

  const expected = Array.from({ length: count }, (_, i) => i + 1);
  for (const [name, socket] of Object.entries(members))
    assert.deepEqual(received.get(socket), expected, `${name} should get seqs 1..${count} once each`);
  assert.deepEqual(received.get(left), [], "the member that left should get nothing");
});
