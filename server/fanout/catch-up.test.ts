/** The room catch-up pushes an entry lost below later live ones, and only what is missing; nothing reaches the sockets twice. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Server } from "socket.io";
import type { Logger } from "../../common/logger.js";
import type { ChatMessage } from "../../storage/message.js";
import { RoomCatchUp } from "./catch-up.js";

function setup(latest: number) {
  const pushed: number[] = [];
  // Like the room broadcast (fanout/install.ts): every entry goes through onDelivered, which may drop it.
  const io = {
    of: () => ({ adapter: { rooms: new Map([["r", new Set(["socket-1"])]]) } }),
    local: {
      to: (room: string) => ({
        emit: (_event: string, entry: { seq: number }) => {
          if (catchUp.onDelivered(room, entry.seq)) pushed.push(entry.seq);
        },
      }),
    },
  } as unknown as Server;
  const message = (seq: number) => ({ room: "r", seq, id: `id${seq}`, from: "a", clientId: `c${seq}`, text: "t", ts: seq }) as ChatMessage;
  const source = {
    latestSeq: async () => latest,
    since: async (_room: string, afterSeq: number, limit: number) => ({
      messages: Array.from({ length: Math.max(0, Math.min(latest, afterSeq + limit) - afterSeq) }, (_, i) => message(afterSeq + 1 + i)),
    }),
  };
  const logger = { info: () => undefined, warn: () => undefined } as unknown as Logger;
  const catchUp = new RoomCatchUp(io, source, logger, 60_000);
  return { pushed, catchUp };
}

test("an entry lost below later live ones is pushed at the second check, and only it", async () => {
  const { pushed, catchUp } = setup(5);
  for (const seq of [1, 2, 4, 5]) catchUp.onDelivered("r", seq);
  assert.equal(catchUp.deliveredUpTo("r"), 2);
  await catchUp.check();
  assert.deepEqual(pushed, [], "behind once: it may still be on its way");
  await catchUp.check();
  assert.deepEqual(pushed, [3]);
  assert.equal(catchUp.deliveredUpTo("r"), 5);
  await catchUp.check();
  assert.deepEqual(pushed, [3], "nothing pushed twice once caught up");
});

test("a room that is not behind gets nothing", async () => {
  const { pushed, catchUp } = setup(3);
  for (const seq of [1, 2, 3]) catchUp.onDelivered("r", seq);
  await catchUp.check();
  await catchUp.check();
  assert.deepEqual(pushed, []);
});

test("an entry the catch-up pushed is dropped when it still arrives live, as is any entry delivered twice", async () => {
  const { pushed, catchUp } = setup(5);
  for (const seq of [1, 2, 4, 5]) assert.equal(catchUp.onDelivered("r", seq), true);
  await catchUp.check();
  await catchUp.check();
  assert.deepEqual(pushed, [3]);
  assert.equal(catchUp.onDelivered("r", 3), false, "seq 3 was only late: its live copy is dropped");
  assert.equal(catchUp.onDelivered("r", 5), false);
  assert.equal(catchUp.onDelivered("r", 7), true);
  assert.equal(catchUp.onDelivered("r", 7), false, "delivered above a gap, then again");
  assert.equal(catchUp.onDelivered("r", 6), true);
});

test("entries published before the node's first delivery in a room may arrive after it, and are delivered", () => {
  const { catchUp } = setup(0);
  assert.equal(catchUp.onDelivered("r", 7), true);
  assert.equal(catchUp.onDelivered("r", 6), true, "pub/sub orders by publish, not by seq");
  assert.equal(catchUp.onDelivered("r", 8), true);
  assert.equal(catchUp.onDelivered("r", 7), false);
});

test("a gap given up (too many seqs above it) still lets its entries through once if they arrive", () => {
  const { catchUp } = setup(0);
  catchUp.onDelivered("r", 1);
  for (let seq = 3; seq <= 2003; seq++) catchUp.onDelivered("r", seq);
  assert.equal(catchUp.deliveredUpTo("r"), 2003, "the gap at 2 was given up: memory stays bounded");
  assert.equal(catchUp.onDelivered("r", 1500), false, "delivered above the gap");
  assert.equal(catchUp.onDelivered("r", 2), true, "the given-up entry was never delivered");
  assert.equal(catchUp.onDelivered("r", 2), false);
  assert.equal(catchUp.onDelivered("r", 2004), true);
});
