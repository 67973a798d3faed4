import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DeliveryCounter,
  newMemberships,
  parseCentrifugoPublication,
  parseSendAck,
  parseSocketIoEvent,
  parseUwsMessage,
} from "./deliveries.js";

function counterWithMember(rooms: string[]) {
  const counter = new DeliveryCounter();
  const member = newMemberships();
  for (const room of rooms) counter.joined(member, room);
  return { counter, member };
}

test("a message counts once per client, room and seq", () => {
  const { counter, member } = counterWithMember(["a"]);
  const other = newMemberships();
  counter.joined(other, "a");
  counter.startWindow(["a"]);
  assert.equal(counter.deliver(member, "a", 1), true);
  assert.equal(counter.deliver(other, "a", 1), true);
  assert.equal(counter.deliver(member, "a", 2), true);
  assert.equal(counter.deliver(member, "a", 1), false);
  assert.deepEqual(counter.tally(2, 2), { counted: 3, duplicated: 1, misrouted: 0, malformed: 0, otherEvents: 0, open: 2, clients: 2 });
});

test("a message of a room the client did not join, or that the window does not send to, is misrouted", () => {
  const { counter, member } = counterWithMember(["a", "b"]);
  counter.startWindow(["a"]);
  assert.equal(counter.deliver(member, "c", 1), false);
  assert.equal(counter.deliver(member, "b", 1), false);
  assert.equal(counter.tally(1, 1).misrouted, 2);
  assert.equal(counter.tally(1, 1).counted, 0);
});

test("a seq from an earlier window is a repeat in a later one, and out-of-order seqs of the window count", () => {
  const { counter, member } = counterWithMember(["a"]);
  counter.startWindow(["a"]);
  for (const seq of [1, 3, 2]) assert.equal(counter.deliver(member, "a", seq), true);
  counter.startWindow(["a"]);
  assert.equal(counter.tally(1, 1).counted, 0, "a new window starts from zero");
  assert.equal(counter.deliver(member, "a", 3), false);
  assert.equal(counter.deliver(member, "a", 5), true);
  assert.equal(counter.deliver(member, "a", 4), true);
  assert.deepEqual(counter.tally(1, 1), { counted: 2, duplicated: 1, misrouted: 0, malformed: 0, otherEvents: 0, open: 1, clients: 1 });
});

test("socket.io frames: a message with room and seq, another event, or malformed", () => {
  assert.deepEqual(parseSocketIoEvent(JSON.stringify(["message", { id: "x", room: "r:1", seq: 7, text: "123456|x" }])), {
    kind: "message",
    room: "r:1",
    seq: 7,
    text: "123456|x",
  });
  assert.deepEqual(parseSocketIoEvent(JSON.stringify(["presence", { room: "r", user: "u", online: true }])), { kind: "other" });
  assert.deepEqual(parseSocketIoEvent(JSON.stringify(["message", { room: "r", seq: 0 }])), { kind: "malformed" });
  assert.deepEqual(parseSocketIoEvent(JSON.stringify(["message", { seq: 1 }])), { kind: "malformed" });
  assert.deepEqual(parseSocketIoEvent('3["message"]'), { kind: "malformed" });
});

test("uws frames: m<room>|<seq>|<text>", () => {
  assert.deepEqual(parseUwsMessage("mfan-10|12|123|xx"), { kind: "message", room: "fan-10", seq: 12, text: "123|xx" });
  assert.deepEqual(parseUwsMessage("m123|xx"), { kind: "malformed" });
  assert.deepEqual(parseUwsMessage("mroom||x"), { kind: "malformed" });
});

test("a Centrifugo publication is a delivery of its channel at its offset; one without an offset is unreadable", () => {
  assert.deepEqual(parseCentrifugoPublication({ channel: "bench:fan-10", offset: 7, data: { text: "hi" } }), {
    kind: "message",
    room: "bench:fan-10",
    seq: 7,
    text: "hi",
  });
  assert.deepEqual(parseCentrifugoPublication({ channel: "bench:fan-10", data: { text: "hi" } }), { kind: "malformed" });
  assert.deepEqual(parseCentrifugoPublication({ channel: "bench:fan-10", offset: 0, data: { text: "hi" } }), { kind: "malformed" });
  assert.deepEqual(parseCentrifugoPublication({ channel: "", offset: 3 }), { kind: "malformed" });
});

test("a send ack is the receipt of the message stored; an ok ack without id, seq or ts is none", () => {
  assert.deepEqual(parseSendAck("r", JSON.stringify([{ ok: true, id: "m1", seq: 4, ts: 1700 }])), {
    room: "r",
    seq: 4,
    id: "m1",
    ts: 1700,
  });
  for (const broken of [
    [{ ok: true, seq: 4, ts: 1 }],
    [{ ok: true, id: "m1", seq: 0, ts: 1 }],
    [{ ok: true, id: "m1", seq: 4 }],
    [{ ok: false, error: { code: "UNAVAILABLE" } }],
    [],
  ])
    assert.equal(parseSendAck("r", JSON.stringify(broken)), null, JSON.stringify(broken));
  assert.equal(parseSendAck("r", "[{"), null);
});
