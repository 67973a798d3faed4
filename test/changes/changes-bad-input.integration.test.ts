/**
 * Bad input for edit, delete and react, through the gateway: every malformed payload gets a
 * clear error ack (types, sizes, unknown ids, foreign rooms, wrong users) and the cluster stays
 * up; nothing is stored for a refused change. Also the acknowledgement rules a change shares
 * with `send`: the same per-user rate limit, and UNAVAILABLE while the write buffer is full.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Socket } from "socket.io-client";
import { uuidV7 } from "../../client/client-id.js";
import { DEFAULT_STREAM_CONFIG } from "../../storage/config.js";
import { request, startTestCluster, type TestCluster } from "../fixture.js";
import { assertClusterAlive, assertError, assertOk, send, uniqueTag, type ErrorCode } from "../protocol/helpers.js";
import { edit, joinSince, react, sent, tokenWithMod } from "./helpers.js";

const tag = uniqueTag();
const user = (name: string) => `${name}-${tag}`;
const roomName = (name: string) => `bad-${name}-${tag}`;
/** 100 entries per shard: small enough to fill with a stopped flusher, room enough for a burst. */
const BUFFER_MAX_ENTRIES = 100 * DEFAULT_STREAM_CONFIG.shards;

let cluster: TestCluster;
before(async () => (cluster = await startTestCluster({ nodeCount: 2, env: { CHAT_BUFFER_MAX_ENTRIES: String(BUFFER_MAX_ENTRIES) } })));
after(async () => cluster?.stop());

describe("malformed and refused changes, and the acknowledgement rules of send", () => {
  const room = roomName("input");
  let alice: Socket;
  let bob: Socket;
  let id: string;

  before(async () => {
    alice = await cluster.client(await tokenWithMod(user("alice"), [room, roomName("mine-2")]));
    bob = await cluster.client(await tokenWithMod(user("bob"), [room], [roomName("other-*")]));
    id = (await sent(alice, room, "target", "a target")).id;
  });

  type Case = [what: string, event: "edit" | "delete" | "react", payload: unknown, code: ErrorCode];
  const cases = (): Case[] => {
    const base = { room, id, clientId: "c" };
    const cases: Case[] = [];
    for (const event of ["edit", "delete", "react"] as const) {
      const full = event === "edit" ? { ...base, text: "t" } : event === "react" ? { ...base, emoji: "👍", on: true } : base;
      cases.push(
        [`${event}: no payload`, event, undefined, "BAD_REQUEST"],
        [`${event}: a string`, event, "edit everything", "BAD_REQUEST"],
        [`${event}: an array`, event, [full], "BAD_REQUEST"],
        [`${event}: no room`, event, { ...full, room: undefined }, "BAD_REQUEST"],
        [`${event}: bad room syntax`, event, { ...full, room: "no spaces allowed" }, "BAD_REQUEST"],
        [`${event}: no id`, event, { ...full, id: undefined }, "BAD_REQUEST"],
        [`${event}: numeric id`, event, { ...full, id: 7 }, "BAD_REQUEST"],
        [`${event}: empty id`, event, { ...full, id: "" }, "BAD_REQUEST"],
        [`${event}: id of 65 characters`, event, { ...full, id: "A".repeat(65) }, "BAD_REQUEST"],
        [`${event}: no clientId`, event, { ...full, clientId: undefined }, "BAD_REQUEST"],
        [`${event}: empty clientId`, event, { ...full, clientId: "" }, "BAD_REQUEST"],
        [`${event}: clientId of 65 characters`, event, { ...full, clientId: "c".repeat(65) }, "BAD_REQUEST"],
        [`${event}: a room the token does not allow`, event, { ...full, room: roomName("other-room") }, "FORBIDDEN"],
        [`${event}: unknown id`, event, { ...full, id: "01ARZ3NDEKTSV4RRFFQ69G5FAV" }, "NOT_FOUND"],
        [`${event}: an id that is no message id`, event, { ...full, id: "definitely-not-an-id" }, "NOT_FOUND"],
        [`${event}: an id of another room`, event, { ...full, room: roomName("mine-2") }, "NOT_FOUND"],
      );
    }
    cases.push(
      ["edit: no text", "edit", { ...base, text: undefined }, "BAD_REQUEST"],
      ["edit: numeric text", "edit", { ...base, text: 5 }, "BAD_REQUEST"],
      ["edit: text over 4000 characters", "edit", { ...base, text: "x".repeat(4001) }, "TOO_LARGE"],
      ["react: no emoji", "react", { ...base, on: true }, "BAD_REQUEST"],
      ["react: empty emoji", "react", { ...base, emoji: "", on: true }, "BAD_REQUEST"],
      ["react: emoji of 33 characters", "react", { ...base, emoji: "x".repeat(33), on: true }, "BAD_REQUEST"],
      ["react: numeric emoji", "react", { ...base, emoji: 1, on: true }, "BAD_REQUEST"],
      ["react: no on", "react", { ...base, emoji: "👍" }, "BAD_REQUEST"],
      ["react: on as a string", "react", { ...base, emoji: "👍", on: "true" }, "BAD_REQUEST"],
    );
    return cases;
  };

  test("every malformed or refused payload gets its error code, and nothing is appended", async () => {
    const before = (await joinSince(alice, room, 0)).seq;
    for (const [what, event, payload, code] of cases()) {
      // An id of another room needs a message there first.
      const input = what.endsWith("an id of another room")
        ? { ...(payload as object), room, id: (await sent(alice, roomName("mine-2"), `foreign-${what}`, "elsewhere")).id }
        : payload;
      assertError(await request(alice, event, input), code, what);
    }
    assert.equal((await joinSince(alice, room, 0)).seq, before, "no refused change took a seq");
    await assertClusterAlive(cluster);
  });

  test("wrong users: edit of another's message and delete without the room's mod claim are FORBIDDEN", async () => {
    assertError(await edit(bob, room, id, "bob-edit", "not mine"), "FORBIDDEN", "edit by another user");
    assertError(await request(bob, "delete", { room, id, clientId: "bob-delete" }), "FORBIDDEN", "delete with mod for other rooms only");
    assertOk(await react(bob, room, id, "bob-react", "👍", true), "anyone in the room may react");
  });

  test("a change without an ack callback is handled and crashes nothing", async () => {
    alice.emit("edit", { room, id, clientId: "no-ack", text: 42 });
    alice.emit("react", "garbage");
    alice.emit("delete");
    await assertClusterAlive(cluster);
  });

  // The acknowledgement rules of send. In the same suite, after the tests above: the full-buffer
  // test stops the flusher, which must not refuse their sends.
  test("changes take tokens from the sender's rate limit: after a burst of sends, an edit is RATE_LIMITED with retryAfterMs", async () => {
    const room = roomName("rate");
    const socket = await cluster.client(await tokenWithMod(user("rate"), [room]));
    const { id } = await sent(socket, room, "rate-target", "target");
    // All at once (sent one by one, the bucket would refill between them): the burst's 40
    // tokens go to the target and these sends, which the node handles first, and the edits
    // behind them find none. Recent UUIDv7 clientIds, as the SDK makes: other ids first look for
    // an older receipt in Cassandra, whose answers come back in any order, and an edit could
    // then take a token before a send.
    const sends = Array.from({ length: 39 }, () => send(socket, room, uuidV7(), "burst"));
    const edits = Array.from({ length: 10 }, (_, i) => edit(socket, room, id, uuidV7(), `edit ${i}`));
    const [sendAcks, editAcks] = await Promise.all([Promise.all(sends), Promise.all(edits)]);
    assert.ok(
      sendAcks.every((ack) => ack.ok),
      `the burst allows the target and 39 sends: ${JSON.stringify(sendAcks.filter((ack) => !ack.ok))}`,
    );
    const limited = editAcks.filter((ack) => !ack.ok);
    assert.ok(limited.length > 0, `edits beyond the burst are refused: ${JSON.stringify(editAcks)}`);
    for (const ack of limited)
      assert.ok((assertError(ack, "RATE_LIMITED", "an edit with an empty bucket").retryAfterMs ?? 0) > 0, "with retryAfterMs");
  });

  test("UNAVAILABLE with retryAfterMs while the write buffer is full; the same change goes through once the flusher drained it", async () => {
    const room = roomName("full");
    const author = await cluster.client(await tokenWithMod(user("full-author"), [room]));
    const { id } = await sent(author, room, "full-target", "target");
    await cluster.apps.flusher.stop();
    let full = false;
    for (let u = 0; u < 6 && !full; u++) {
      const filler = await cluster.client(await tokenWithMod(user(`filler${u}`), [room]));
      for (let i = 0; i < 35 && !full; i++) {
        const ack = await send(filler, room, `fill-${u}-${i}`, "filling");
        if (!ack.ok) full = assertError(ack, "UNAVAILABLE", "send into a full buffer").code === "UNAVAILABLE";
      }
    }
    assert.ok(full, "the room's shard filled up");
    const refused = assertError(await react(author, room, id, "full-react", "👍", true), "UNAVAILABLE", "a change into a full buffer");
    assert.ok((refused.retryAfterMs ?? 0) > 0);
    await cluster.restartFlusher();
    let ack = await react(author, room, id, "full-react", "👍", true);
    for (let attempt = 0; !ack.ok && attempt < 50; attempt++) {
      assertError(ack, "UNAVAILABLE", "while the flusher drains");
      await new Promise((resolve) => setTimeout(resolve, 200));
      ack = await react(author, room, id, "full-react", "👍", true);
    }
    assert.equal(assertOk(ack, "the retried change").duplicate, undefined, "the refused attempt stored nothing: the retry is the first");
  });
});
