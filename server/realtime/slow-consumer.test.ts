/**
 * The outgoing buffer cap's rules with fakes of engine.io's socket and uWS's WebSocket; the real
 * transports are exercised in test/limits/slow-consumer.integration.test.ts.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import type { TemplatedApp, WebSocket, WebSocketBehavior } from "uWebSockets.js";
import { OutgoingBufferCap, type EngineSocketLike, type SlowConsumerClose } from "./slow-consumer.js";

const CAP = 100;

class FakeEngineSocket extends EventEmitter {
  transport: object = { name: "polling" };
  closedWith: boolean[] = [];
  close(discard: true): void {
    this.closedWith.push(discard);
    this.emit("close", "forced close");
  }
  /** What engine.io's sendPacket does: packetCreate, then a flush when the transport is writable. */
  send(data: string | Buffer, polled = false): void {
    this.emit("packetCreate", { type: "message", data });
    if (polled) this.emit("flush");
  }
}

function setUp() {
  const closes: { socket: EngineSocketLike; close: SlowConsumerClose }[] = [];
  const cap = new OutgoingBufferCap(CAP, (socket, close) => closes.push({ socket, close }));
  const engine = new EventEmitter();
  cap.track(engine as never);
  const socket = new FakeEngineSocket();
  engine.emit("connection", socket);
  return { cap, closes, socket };
}

const tick = () => new Promise((resolve) => process.nextTick(resolve));

test("polling: a packet that comes while more than the cap is queued closes the session (discarding the queue), once", async () => {
  const { closes, socket } = setUp();
  socket.send("a".repeat(60));
  socket.send("b".repeat(60)); // 122 queued (a byte of packet type each): over the cap, not yet closed
  await tick();
  assert.deepEqual(socket.closedWith, []);
  socket.send("c");
  socket.send("d");
  await tick();
  assert.deepEqual(socket.closedWith, [true]);
  assert.equal(closes.length, 1);
  assert.deepEqual(closes[0]!.close, { transport: "polling", bufferedBytes: 122 });
});

test("polling: a poll (flush) empties the count, so a client that polls is never closed", async () => {
  const { closes, socket } = setUp();
  for (let i = 0; i < 50; i++) socket.send("x".repeat(60), i % 2 === 1);
  await tick();
  assert.deepEqual(socket.closedWith, []);
  assert.equal(closes.length, 0);
});

test("polling: one packet larger than the cap is queued whole; only the next one closes", async () => {
  const { socket } = setUp();
  socket.send(Buffer.alloc(10 * CAP));
  await tick();
  assert.deepEqual(socket.closedWith, []);
  socket.send("next");
  await tick();
  assert.deepEqual(socket.closedWith, [true]);
});

/** A uWS WebSocket fake: its buffer, and the JS object uWS invalidates when it closes. */
function fakeWs(buffered: number, transport: object, valid = true): WebSocket<{ transport?: object }> {
  return {
    getBufferedAmount: () => {
      if (!valid) throw new Error("Invalid access of closed uWS.WebSocket/SSLWebSocket.");
      return buffered;
    },
    getUserData: () => ({ transport }),
  } as unknown as WebSocket<{ transport?: object }>;
}

function wrappedBehavior(cap: OutgoingBufferCap, original: WebSocketBehavior<{ transport?: object }>) {
  let registered: WebSocketBehavior<{ transport?: object }> | undefined;
  const app = { ws: (_pattern: string, behavior: WebSocketBehavior<{ transport?: object }>) => (registered = behavior) };
  cap.wrap(app as unknown as TemplatedApp).ws("/socket.io/", original);
  return registered!;
}

test("websocket: engine.io's route gets maxBackpressure = the cap and closeOnBackpressureLimit; its handlers still run", () => {
  const cap = new OutgoingBufferCap(CAP, () => undefined);
  const calls: string[] = [];
  const behavior = wrappedBehavior(cap, { maxBackpressure: undefined, close: () => calls.push("close") });
  assert.equal(behavior.maxBackpressure, CAP);
  assert.ok(behavior.closeOnBackpressureLimit);
  behavior.close!(fakeWs(0, {}, false), 1006, new ArrayBuffer(0));
  assert.deepEqual(calls, ["close"]);
});

test("websocket: a socket uWS closes with more than the cap unsent is reported; one that left a room while backed up, or went away with little unsent, is not", () => {
  const tracked = setUpWithWs();
  // uWS closing a backed-up socket: the subscription handler for each topic, then close.
  const transport = tracked.socket.transport;
  const backedUp = fakeWs(5 * CAP, transport);
  tracked.behavior.subscription!(backedUp, new ArrayBuffer(0), 0, 1);
  tracked.behavior.close!(backedUp, 1006, new ArrayBuffer(0));
  tracked.socket.emit("close", "transport close");
  assert.deepEqual(
    tracked.closes.map((entry) => entry.close),
    [{ transport: "websocket", bufferedBytes: 5 * CAP }],
  );

  // A room left while backed up, then a close with little unsent: not this limit.
  const other = setUpWithWs();
  const ws = fakeWs(5 * CAP, other.socket.transport);
  other.behavior.subscription!(ws, new ArrayBuffer(0), 0, 1);
  const drained = fakeWs(10, other.socket.transport);
  other.behavior.subscription!(drained, new ArrayBuffer(0), 0, 1);
  other.behavior.close!(drained, 1006, new ArrayBuffer(0));
  other.socket.emit("close", "transport close");
  // A socket the server ended (ws.end()): its buffer can no longer be read.
  const ended = setUpWithWs();
  const gone = fakeWs(0, ended.socket.transport, false);
  ended.behavior.subscription!(gone, new ArrayBuffer(0), 0, 1);
  ended.behavior.close!(gone, 1000, new ArrayBuffer(0));
  ended.socket.emit("close", "transport close");
  assert.deepEqual([other.closes, ended.closes], [[], []]);
});

function setUpWithWs() {
  const closes: { socket: EngineSocketLike; close: SlowConsumerClose }[] = [];
  const cap = new OutgoingBufferCap(CAP, (socket, close) => closes.push({ socket, close }));
  const engine = new EventEmitter();
  cap.track(engine as never);
  const socket = new FakeEngineSocket();
  socket.transport = { name: "websocket" };
  engine.emit("connection", socket);
  const behavior = wrappedBehavior(cap, {});
  return { closes, socket, behavior };
}
