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
