/**
 * docs/protocol.md v1.1 "Messages change", row by row, through the gateway of a two-node cluster on
 * real Redis and Cassandra: edit, delete, react and their acks, who may do what, NOT_FOUND,
 * the 50-emoji cap, idempotency, the `change` event, seqs over the log, and the reads (history
 * in its current state, join since with messages and changes, rooms' unread) first from Redis,
 * then with Redis's recent log dropped so that the same reads come from Cassandra.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Socket } from "socket.io-client";
import type { ChatChange, MessageView } from "../../storage/change.js";
import { eventually, nextEvent, request, startTestCluster, type TestCluster } from "../fixture.js";
import { assertError, assertOk, uniqueTag, type Ack, type RoomEntry } from "../protocol/helpers.js";
import {
  edit,
  flushed,
  forgetRecent,
  historyOf,
  joinSince,
  react,
  remove,
  sent,
  tokenWithMod,
  type JoinSince,
  type ViewPage,
} from "./helpers.js";

const tag = uniqueTag();
const user = (name: string) => `${name}-${tag}`;
const roomName = (name: string) => `chg-${name}-${tag}`;

let cluster: TestCluster;
// Changes are many per test here; the per-user send limit has its own test (changes-bad-input),
// and the per-user event budget is issue 17's (test/limits/).
before(
  async () =>
    (cluster = await startTestCluster({
      nodeCount: 2,
      env: { CHAT_SENDS_PER_SECOND: "1000", CHAT_SEND_BURST: "1000", CHAT_EVENTS_PER_SECOND: "2000", CHAT_EVENT_BURST: "2000" },
    })),
);
after(async () => cluster?.stop());

async function connect(name: string, rooms: string[], mod?: string[]): Promise<Socket> {
  return cluster.client(await tokenWithMod(user(name), rooms, mod));
}

function ok(ack: Ack<{ seq: number; ts: number; duplicate?: boolean }>, what: string) {
  return assertOk(ack, what);
}

describe("edit, delete and react on one room, read from Redis and from Cassandra", () => {
  const room = roomName("rows");
  const other = roomName("rows-other");
  let alice: Socket, bob: Socket, moderator: Socket, carol: Socket, watcher: Socket;
  const ids: Record<string, string> = {};
  let latest = 0;
  let fromRedis: { history: ViewPage; since: JoinSince; rooms: RoomEntry };
  let editTs = 0;
  const received: ChatChange[] = [];

  before(async () => {
    alice = await connect("alice", [room, other]);
    bob = await connect("bob", [room]);
    moderator = await connect("mod", [room], [`chg-rows-*`]);
    carol = await connect("carol", [room]);
    watcher = await connect("watcher", [room]);
    assertOk(await request<Ack>(watcher, "join", { room }), "watcher join");
    watcher.on("change", (change: ChatChange) => received.push(change));
    for (const name of ["one", "two", "three", "four"])
      ids[name] = (await sent(alice, room, `send-${name}`, `text ${name}`, { secret: name })).id;
    ids["foreign"] = (await sent(alice, other, "send-foreign", "elsewhere")).id;
  });

  test("edit: the author's new text, acknowledged { seq, ts } with the next seq of the log, and delivered as a change", async () => {
    const delivered = nextEvent<ChatChange>(watcher, "change", (c) => c.target === ids["one"]);
    const ack = ok(await edit(alice, room, ids["one"]!, "edit-one", "text one, edited"), "edit");
    assert.equal(ack.seq, 5, "seqs number the log: 4 messages, then this change");
    assert.equal(ack.duplicate, undefined);
    editTs = ack.ts;
    const change = await delivered;
    assert.deepEqual(change, {
      room,
      seq: 5,
      ts: ack.ts,
      by: user("alice"),
      clientId: "edit-one",
      kind: "edit",
      target: ids["one"],
      targetSeq: 1,
      text: "text one, edited",
    });
  });

  test("the same clientId again: the first ack with duplicate: true, nothing delivered or stored twice", async () => {
    const again = ok(await edit(alice, room, ids["one"]!, "edit-one", "another text"), "duplicate edit");
    assert.deepEqual({ seq: again.seq, ts: again.ts, duplicate: again.duplicate }, { seq: 5, ts: editTs, duplicate: true });
  });

  test("edit of another's message: FORBIDDEN; delete of another's message without mod: FORBIDDEN", async () => {
    assertError(await edit(bob, room, ids["one"]!, "bob-edit", "mine now"), "FORBIDDEN", "bob edits alice's message");
    assertError(await edit(moderator, room, ids["one"]!, "mod-edit", "moderated"), "FORBIDDEN", "a moderator edits another's message");
    assertError(await remove(bob, room, ids["two"]!, "bob-delete"), "FORBIDDEN", "bob deletes alice's message");
  });

  test("delete by a moderator of the room (mod claim) and by the author", async () => {
    const byMod = ok(await remove(moderator, room, ids["two"]!, "mod-delete"), "moderator delete");
    assert.equal(byMod.seq, 6);
    const byAuthor = ok(await remove(alice, room, ids["three"]!, "author-delete"), "author delete");
    assert.equal(byAuthor.seq, 7);
  });

  test("unknown id, an id of another room, a deleted message: NOT_FOUND for every change", async () => {
    const unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    for (const [id, what] of [
      [unknown, "unknown id"],
      [ids["foreign"]!, "id of another room"],
      [ids["two"]!, "deleted message"],
      ["not-an-id", "not an id"],
    ] as const) {
      assertError(await edit(alice, room, id, `e-${what}`, "x"), "NOT_FOUND", `edit, ${what}`);
      assertError(await remove(alice, room, id, `d-${what}`), "NOT_FOUND", `delete, ${what}`);
      assertError(await react(alice, room, id, `r-${what}`, "👍", true), "NOT_FOUND", `react, ${what}`);
    }
  });

  test("react: anyone in the room; adding twice or removing an absent one changes nothing and is still acknowledged", async () => {
    ok(await react(alice, room, ids["four"]!, "r1", "👍", true), "alice 👍");
    ok(await react(bob, room, ids["four"]!, "r2", "👍", true), "bob 👍");
    const twice = ok(await react(bob, room, ids["four"]!, "r3", "👍", true), "bob 👍 again");
    assert.equal(twice.duplicate, undefined, "a new clientId is a new entry, not a duplicate");
    ok(await react(carol, room, ids["four"]!, "r4", "❤️", true), "carol ❤️");
    ok(await react(carol, room, ids["four"]!, "r5", "❤️", false), "carol ❤️ off");
    const absent = ok(await react(carol, room, ids["four"]!, "r6", "🎉", false), "carol 🎉 off, never on");
    latest = absent.seq;
    assert.equal(latest, 13);
  });

  test("a message holds at most 50 distinct emoji: the 51st is TOO_LARGE, a 50th's reactors still count", async () => {
    const target = (await sent(alice, room, "send-emoji", "emoji galore")).id;
    for (let i = 0; i < 50; i++) ok(await react(bob, room, target, `many-${i}`, `e${i}`, true), `emoji ${i}`);
    assertError(await react(bob, room, target, "many-50", "e50", true), "TOO_LARGE", "51st emoji");
    ok(await react(carol, room, target, "many-again", "e0", true), "another reactor of an existing emoji");
    ok(await react(bob, room, target, "many-off", "e1", false), "one emoji removed");
    ok(await react(carol, room, target, "many-51", "e50", true), "room for one more after a removal");
    ids["emoji"] = target;
    latest = (await historyOf(alice, room, 1)).messages[0]!.seq + 53;
  });

  test("every change was delivered once to a socket that joined the room, in seq order", async () => {
    await eventually("the last change delivered", async () => (received.some((c) => c.seq === latest) ? true : undefined));
    const seqs = received.map((c) => c.seq);
    assert.deepEqual(
      seqs,
      [...new Set(seqs)].sort((a, b) => a - b),
      "no duplicate, ascending",
    );
    assert.equal(received.filter((c) => c.target === ids["one"]).length, 1, "the duplicate edit was not delivered");
    assert.deepEqual(
      received.find((c) => c.seq === 6),
      {
        room,
        seq: 6,
        ts: received.find((c) => c.seq === 6)!.ts,
        by: user("mod"),
        clientId: "mod-delete",
        kind: "delete",
        target: ids["two"],
        targetSeq: 2,
      },
    );
  });

  test("history from Redis: current state, tombstones without meta, reactions with exact counts and users in order", async () => {
    const history = await historyOf(bob, room);
    const bySeq = new Map(history.messages.map((m) => [m.seq, m]));
    assert.deepEqual([...bySeq.keys()], [1, 2, 3, 4, 14], "messages only, changes folded in");
    assertCurrentState(bySeq, ids, editTs);
    const since = await joinSince(bob, room, 0);
    // join records the room in bob's list, off the ack's path.
    const rooms = await eventually("bob's rooms list the room", async () =>
      assertOk(await request<Ack<{ rooms: RoomEntry[] }>>(bob, "rooms", {}), "rooms").rooms.find((r) => r.room === room),
    );
    assert.equal(rooms.lastSeq, since.seq, "lastSeq is the log's latest seq");
    assert.equal(rooms.unread, 5, "unread counts messages, not changes");
    fromRedis = { history, since, rooms };
    assertLog(fromRedis.since, ids);
  });

  test("the same reads from Cassandra once Redis no longer holds the room's recent log", async () => {
    await forgetRecent(cluster, room, Object.values(ids));
    assert.deepEqual(await historyOf(bob, room), fromRedis.history, "history");
    assert.deepEqual(await joinSince(bob, room, 0), fromRedis.since, "join since");
    const rooms = assertOk(await request<Ack<{ rooms: RoomEntry[] }>>(bob, "rooms", {}), "rooms").rooms.find((r) => r.room === room);
    assert.deepEqual(rooms, fromRedis.rooms, "rooms");
    const rest = await cluster.http(`/api/rooms/${room}/messages?limit=100`, { token: await tokenWithMod(user("bob"), [room]) });
    assert.equal(rest.status, 200);
    const { ok: _ok, ...page } = fromRedis.history as ViewPage & { ok?: true };
    assert.deepEqual(rest.body, page, "GET /api/rooms/:room/messages");
  });

  test("changes to messages Redis no longer holds are checked against Cassandra", async () => {
    ok(await react(carol, room, ids["four"]!, "late-react", "👍", true), "a reaction to a message only Cassandra holds");
    ok(await react(bob, room, ids["four"]!, "late-again", "👍", true), "bob's 👍 is known from Cassandra: no change");
    assertError(await edit(alice, room, ids["three"]!, "late-edit", "back?"), "NOT_FOUND", "a deleted message only Cassandra holds");
    assertError(await remove(bob, room, ids["one"]!, "late-delete"), "FORBIDDEN", "the author is known from Cassandra");
    const four = (await historyOf(bob, room)).messages.find((m) => m.id === ids["four"]);
    assert.deepEqual(four?.reactions, [{ emoji: "👍", count: 3, users: [user("alice"), user("bob"), user("carol")] }]);
    await flushed(cluster, room);
    await forgetRecent(cluster, room, Object.values(ids));
    const stored = (await historyOf(bob, room)).messages.find((m) => m.id === ids["four"]);
    assert.deepEqual(stored?.reactions, four?.reactions, "Cassandra's rows agree");
  });

  test("history pages hold up to `limit` messages; changes do not take their places", async () => {
    const page = await historyOf(bob, room, 2);
    assert.deepEqual(
      page.messages.map((m) => m.seq),
      [4, 14],
    );
    assert.equal(page.more, true);
    const older = await historyOf(bob, room, 3, 4);
    assert.deepEqual(
      older.messages.map((m) => m.seq),
      [1, 2, 3],
    );
    assert.equal(older.more, false);
  });
});

/** What the scenario above leaves, whichever store answers. */
function assertCurrentState(bySeq: Map<number, MessageView>, ids: Record<string, string>, editTs: number): void {
  const one = bySeq.get(1)!;
  assert.equal(one.text, "text one, edited");
  assert.equal(one.editedAt, editTs);
  assert.deepEqual(one.meta, { secret: "one" }, "an edit keeps meta");
  for (const seq of [2, 3]) {
    const tombstone = bySeq.get(seq)!;
    assert.equal(tombstone.deleted, true);
    assert.equal(tombstone.text, "");
    assert.equal("meta" in tombstone, false, "a tombstone has no meta");
    assert.equal("reactions" in tombstone, false);
  }
  const four = bySeq.get(4)!;
  assert.equal(four.id, ids["four"]);
  assert.deepEqual(four.reactions, [{ emoji: "👍", count: 2, users: [four.reactions![0]!.users[0]!, four.reactions![0]!.users[1]!] }]);
  assert.equal(four.editedAt, undefined);
  const emoji = bySeq.get(14)!;
  assert.equal(emoji.reactions?.length, 50, "50 distinct emoji after one was removed and another added");
  assert.equal(emoji.reactions?.find((r) => r.emoji === "e0")?.count, 2);
  assert.equal(
    emoji.reactions?.find((r) => r.emoji === "e1"),
    undefined,
  );
}

/** join since 0: messages and changes together hold every seq of the log once, each ascending. */
function assertLog(since: JoinSince, ids: Record<string, string>): void {
  const seqs = [...since.messages.map((m) => m.seq), ...since.changes.map((c) => c.seq)].sort((a, b) => a - b);
  assert.deepEqual(
    seqs,
    Array.from({ length: since.seq }, (_, i) => i + 1),
  );
  assert.deepEqual(
    since.messages.map((m) => m.seq),
    [...since.messages.map((m) => m.seq)].sort((a, b) => a - b),
  );
  assert.equal(since.more, false);
  const one = since.messages.find((m) => m.id === ids["one"])!;
  assert.equal(one.text, "text one", "the log holds the message as sent; the edit is its own entry");
  const two = since.messages.find((m) => m.id === ids["two"]) as MessageView;
  assert.deepEqual([two.text, two.deleted, "meta" in two], ["", true, false], "a deleted message's entry is erased");
  assert.deepEqual(
    since.changes.filter((c) => c.kind === "edit").map((c) => c.text),
    ["text one, edited"],
  );
  assert.equal(
    since.changes.some((c) => "noop" in c),
    false,
    "internal marks stay inside",
  );
}
