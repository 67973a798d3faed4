import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CoalescingHistory, ConcurrencyLimit, type MessageHistory } from "./coalescing-history.js";
import type { ChatMessage } from "./message.js";

/** An in-memory room log of `latest` messages that counts its reads and can be slowed down. */
function fakeHistory(latest: number, delayInMs = 5) {
  const reads: { kind: string; room: string; afterSeq?: number; limit?: number }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const message = (room: string, seq: number) =>
    ({ id: `id-${seq}`, room, seq, from: "u", clientId: `c${seq}`, text: `t${seq}`, ts: seq }) as ChatMessage;
  const track = async <T>(value: () => T): Promise<T> => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await sleep(delayInMs);
    inFlight--;
    return value();
  };
  const history: MessageHistory = {
    latestSeq: (room) => (reads.push({ kind: "latest", room }), track(() => latest)),
    page: (room, _beforeSeq, _limit) => (reads.push({ kind: "page", room }), track(() => ({ messages: [], more: false }))),
    since: (room, afterSeq, limit) => {
      reads.push({ kind: "since", room, afterSeq, limit });
      return track(() => {
        const top = Math.min(latest, afterSeq + limit);
        const messages = Array.from({ length: Math.max(0, top - afterSeq) }, (_, i) => message(room, afterSeq + 1 + i));
        return { messages, changes: [], more: top < latest, latest };
      });
    },
  };
  return { history, reads, maxInFlight: () => maxInFlight };
}

test("200 concurrent joins of one room with different `since` are served by one read, each its own slice", async () => {
  const fake = fakeHistory(1000);
  const coalescing = new CoalescingHistory(fake.history, { windowInMs: 10, maxConcurrentReads: 4 });
  const sinces = Array.from({ length: 200 }, (_, i) => 600 + i);
  const answers = await Promise.all(sinces.map((since) => coalescing.since("room-a", since, 500)));
  assert.equal(fake.reads.length, 1, JSON.stringify(fake.reads.slice(0, 3)));
  answers.forEach((answer, i) => {
    const since = sinces[i]!;
    assert.equal(answer.latest, 1000);
    assert.deepEqual(
      answer.messages.map((m) => m.seq),
      Array.from({ length: 1000 - since }, (_, k) => since + 1 + k),
    );
    assert.equal(answer.more, false);
  });
});

test("each waiter gets at most its limit, and `more` when the room holds newer messages", async () => {
  const fake = fakeHistory(2000);
  const coalescing = new CoalescingHistory(fake.history, { windowInMs: 5, maxConcurrentReads: 4 });
  const [a, b, latest] = await Promise.all([coalescing.since("r", 1500, 100), coalescing.since("r", 1990, 500), coalescing.latestSeq("r")]);
  assert.equal(fake.reads.length, 1);
  assert.deepEqual([a.messages[0]!.seq, a.messages.at(-1)!.seq, a.more], [1501, 1600, true]);
  assert.deepEqual([b.messages.length, b.more], [10, false]);
  assert.equal(latest, 2000);
});

test("ranges further apart than maxSpan get separate reads; different rooms never share one", async () => {
  const fake = fakeHistory(10_000);
  const coalescing = new CoalescingHistory(fake.history, { windowInMs: 5, maxConcurrentReads: 4, maxSpan: 1000 });
  const [old, recent, other] = await Promise.all([
    coalescing.since("r", 0, 500),
    coalescing.since("r", 9000, 500),
    coalescing.since("s", 9000, 500),
  ]);
  assert.deepEqual(fake.reads.map((read) => [read.room, read.afterSeq]).sort(), [
    ["r", 0],
    ["r", 9000],
    ["s", 9000],
  ]);
  assert.equal(old.messages[0]!.seq, 1);
  assert.equal(recent.messages[0]!.seq, 9001);
  assert.equal(other.messages[0]!.room, "s");
});

test("a request arriving while its room's read is in flight waits for the next read (it may need newer messages)", async () => {
  const fake = fakeHistory(100, 30);
  const coalescing = new CoalescingHistory(fake.history, { windowInMs: 1, maxConcurrentReads: 4 });
  const first = coalescing.since("r", 50, 500);
  await sleep(10);
  const second = coalescing.since("r", 50, 500);
  await Promise.all([first, second]);
  assert.equal(fake.reads.length, 2);
});

test("reads over many rooms stay within maxConcurrentReads", async () => {
  const fake = fakeHistory(100, 10);
  const coalescing = new CoalescingHistory(fake.history, { windowInMs: 1, maxConcurrentReads: 3 });
  await Promise.all(Array.from({ length: 30 }, (_, i) => coalescing.since(`room-${i}`, 0, 10)));
  assert.equal(fake.reads.length, 30);
  assert.equal(fake.maxInFlight(), 3);
});

test("a failed read rejects every request it served, and the next window reads again", async () => {
  let fail = true;
  const coalescing = new CoalescingHistory(
    {
      latestSeq: async () => 1,
      page: async () => ({ messages: [], more: false }),
      since: async () => {
        if (fail) throw new Error("Cassandra unavailable");
        return { messages: [], changes: [], more: false, latest: 0 };
      },
    },
    { windowInMs: 1, maxConcurrentReads: 2 },
  );
  const results = await Promise.allSettled([coalescing.since("r", 0, 10), coalescing.since("r", 0, 10)]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
  fail = false;
  assert.equal((await coalescing.since("r", 0, 10)).latest, 0);
});

test("ConcurrencyLimit runs queued tasks in order as slots free", async () => {
  const limit = new ConcurrencyLimit(1);
  const order: number[] = [];
  await Promise.all([1, 2, 3].map((n) => limit.run(async () => (await sleep(5 - n), order.push(n)))));
  assert.deepEqual(order, [1, 2, 3]);
});
