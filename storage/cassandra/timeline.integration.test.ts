/**
 * The timeline's guard on a real Cassandra: a seq stored for one message is never overwritten
 * by another; writing the same message again (a flusher that died before XACK) still works.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";
import { cassandraConfigFor } from "../../scripts/infra/stack.js";
import { testStores } from "../../test/fixture.js";
import { isEntryError } from "../flusher/errors.js";
import type { ChatMessage } from "../message.js";
import { createCassandraClient } from "./client.js";
import { SeqConflictError, Timeline } from "./timeline.js";

const stores = testStores();
const client = createCassandraClient(cassandraConfigFor(stores.cassandraContactPoint, stores.keyspace));
after(() => client.shutdown());
const timeline = new Timeline(client, 24 * 60 * 60 * 1000);

function message(room: string, seq: number, id: string, ts = 1_800_000_000_000 + seq): ChatMessage {
  return { room, seq, id, ts, from: "u", clientId: `c-${id}`, text: `text ${id}` };
}

test("a message written twice leaves one row; another message at a stored seq is refused and the row kept", async () => {
  const room = `guard-${randomBytes(4).toString("hex")}`;
  await timeline.write([message(room, 1, "A1"), message(room, 2, "A2")]);
  await timeline.write([message(room, 2, "A2"), message(room, 3, "A3")]);

  const refused = await timeline.write([message(room, 4, "B4"), message(room, 2, "B2")]).then(
    () => assert.fail("the conflicting batch was written"),
    (error: unknown) => error,
  );
  assert.ok(refused instanceof SeqConflictError);
  assert.deepEqual(refused.conflicts, [{ room, seq: 2, storedId: "A2", newId: "B2" }]);
  assert.ok(isEntryError(refused), "the flusher counts it as the entry's own failure, not an outage");
  assert.ok(!refused.message.includes("text"), "no message text in the error");

  const rows = await timeline.after(room, 0, 10);
  assert.deepEqual(
    rows.map((m) => [m.seq, m.id]),
    [
      [1, "A1"],
      [2, "A2"],
      [3, "A3"],
    ],
    "row 2 kept, nothing of the refused batch written",
  );
  // Alone, the good message of that batch goes through (the flusher's one-by-one pass).
  await timeline.write([message(room, 4, "B4")]);
  assert.equal((await timeline.after(room, 3, 10))[0]?.id, "B4");
});

/** Counts the requests a Timeline sends: each execute() or batch() is one round trip to Cassandra. */
function countingClient(): { client: typeof client; requests: () => number; reset: () => void } {
  let requests = 0;
  const counting = new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if ((property === "execute" || property === "batch") && typeof value === "function") {
        return (...args: unknown[]) => {
          requests += 1;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value;
    },
  });
  return { client: counting, requests: () => requests, reset: () => (requests = 0) };
}

/** A message id as append-script.ts makes them: ts in 10 Crockford digits, seq in 6, then 10 more. */
function messageId(ts: number, seq: number): string {
  const digits = (value: number, length: number) => {
    let out = "";
    for (let i = 0; i < length; i++, value = Math.floor(value / 32)) out = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[value % 32] + out;
    return out;
  };
  return `${digits(ts, 10)}${digits(seq, 6)}ABCDEFGHJK`;
}

test("one request per partition key: a message's read-model and log rows go together, and a bucket's list rows only once", async () => {
  const room = `requests-${randomBytes(4).toString("hex")}`;
  const counted = countingClient();
  const fresh = new Timeline(counted.client, 24 * 60 * 60 * 1000);
  const batch = (from: number) => Array.from({ length: 10 }, (_, i) => message(room, from + i, `M${from + i}`));

  await fresh.write(batch(1));
  // The seq guard's read; messages_by_room + room_log (one key); room_buckets + log_buckets (one
  // key); messages_by_user (one user); receipts (one user and room).
  assert.equal(counted.requests(), 5);
  counted.reset();
  await fresh.write(batch(11));
  assert.equal(counted.requests(), 4, "the bucket's list rows are not written again");
  assert.deepEqual(
    (await fresh.after(room, 0, 100)).map((m) => m.seq),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
});

test("a bucket that only a change reached still gets its message bucket row when a message lands there", async () => {
  const room = `bucket-rows-${randomBytes(4).toString("hex")}`;
  const day = 24 * 60 * 60 * 1000;
  const fresh = new Timeline(client, day);
  const first = message(room, 1, messageId(1_800_000_000_000, 1), 1_800_000_000_000);
  await fresh.write([first]);
  // A reaction made a day later: its log row (and log_buckets row) are in the next bucket,
  // which holds no message yet, so room_buckets must not be taken as written there.
  const nextDay = 1_800_000_000_000 + day;
  await fresh.write([
    {
      entry: {
        room,
        by: "v",
        clientId: "c-react",
        kind: "react",
        target: first.id,
        targetSeq: 1,
        emoji: "👍",
        on: true,
        seq: 2,
        ts: nextDay,
      },
      noop: false,
    },
  ]);
  await fresh.write([message(room, 3, messageId(nextDay + 1, 3), nextDay + 1)]);
  assert.deepEqual(
    (await fresh.after(room, 0, 10)).map((m) => m.seq),
    [1, 3],
    "the message in the change's bucket is found through room_buckets",
  );
});
