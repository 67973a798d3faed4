/** The room catch-up pushes an entry lost below later live ones, and only what is missing. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Server } from "socket.io";
import type { Logger } from "../../common/logger.js";
import type { ChatMessage } from "../../storage/message.js";
import { RoomCatchUp } from "./catch-up.js";

function setup(latest: number) {
  const pushed: number[] = [];
  const io = {
    of: () => ({ adapter: { rooms: new Map([["r", new Set(["socket-1"])]]) } }),
    local: { to: () => ({ emit: (_event: string, entry: { seq: number }) => pushed.push(entry.seq) }) },
  } as unknown as Server;
  const message = (seq: number) => ({ room: "r", seq, id: `id${seq}`, from: "a", clientId: `c${seq}`, text: "t", ts: seq }) as ChatMessage;
  const source = {
    latestSeq: async () => latest,
    since: async (_room: string, afterSeq: number, limit: number) => ({
      messages: Array.from({ length: Math.max(0, Math.min(latest, afterSeq + limit) - afterSeq) }, (_, i) => message(afterSeq + 1 + i)),
    }),
  };
  const logger = { info: () => undefined, warn: () => undefined } as unknown as Logger;
  return { pushed, catchUp: new RoomCatchUp(io, source, logger, 60_000) };
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
