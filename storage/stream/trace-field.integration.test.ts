/**
 * The correlation id in real stream entries, as the append, change and resequence scripts write
 * them: field "t" beside "m" when the action has one, no field otherwise, and what the flusher's
 * reader parses out of them.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import { testStores, uniquePrefix } from "../../test/fixture.js";
import { DEFAULT_STREAM_CONFIG } from "../config.js";
import { RedisKeys } from "../keys.js";
import type { ChatMessage } from "../message.js";
import { ChangeBuffer } from "./change-buffer.js";
import { parseReadReply } from "./entries.js";
import { MessageBuffer, type LatestSeqSource } from "./producer.js";

const redis = new Redis(testStores().redisUrl);
after(() => redis.disconnect());

const newRoom: LatestSeqSource = { latestOf: async () => ({ seq: 0, ts: 0 }) };
const GROUP = "flushers";

function setUp() {
  const keys = new RedisKeys(uniquePrefix(), 1);
  const messages = new MessageBuffer(redis, keys, DEFAULT_STREAM_CONFIG, newRoom);
  const changes = new ChangeBuffer(
    redis,
    keys,
    DEFAULT_STREAM_CONFIG,
    newRoom,
    { storedTarget: async () => undefined },
    { maxEmojiPerMessage: 50 },
  );
  return { keys, messages, changes, stream: keys.stream(0) };
}

async function store(buffer: MessageBuffer, clientId: string, traceId?: string): Promise<ChatMessage> {
  const outcome = await buffer.append({ room: "r", from: "u", clientId, text: "hello" }, traceId);
  return outcome.kind === "stored" ? outcome.message : assert.fail(outcome.kind);
}

/** Each entry's field names, in order. */
async function fieldNames(stream: string): Promise<string[][]> {
  return (await redis.xrange(stream, "-", "+")).map(([, fields]) => fields.filter((_, i) => i % 2 === 0));
}

test("a send with a correlation id has it as field t; one without has only m; both parse", async () => {
  const { messages, stream } = setUp();
  await store(messages, "c1", "7ZK3M0Q9D2XH");
  await store(messages, "c2");
  assert.deepEqual(await fieldNames(stream), [["m", "t"], ["m"]]);
  await redis.xgroup("CREATE", stream, GROUP, "0");
  const entries = parseReadReply(await redis.xreadgroup("GROUP", GROUP, "test", "STREAMS", stream, ">"));
  assert.deepEqual(
    entries.map((entry) => entry.traceId),
    ["7ZK3M0Q9D2XH", undefined],
  );
  // The id is not part of the message: not in the JSON, nor in the recent history readers get.
  for (const entry of entries) assert.doesNotMatch(entry.payload ?? "", /7ZK3M0Q9D2XH/);
});

test("a change carries its own correlation id in its entry", async () => {
  const { messages, changes, stream } = setUp();
  const target = await store(messages, "c1", "SEND0000TRCE");
  const outcome = await changes.append({
    change: { room: "r", by: "u", clientId: "k1", kind: "react", target: target.id, targetSeq: target.seq, emoji: "👍", on: true },
    mayModerate: false,
    traceId: "REACT000TRCE",
  });
  assert.equal(outcome.kind, "stored");
  const [, reaction] = parseReadReply([[stream, await redis.xrange(stream, "-", "+")]]);
  assert.equal(reaction?.traceId, "REACT000TRCE");
  assert.match(reaction?.payload ?? "", /"kind":"react"/);
});

test("a resequenced message's new entry keeps the correlation id of the entry it replaces", async () => {
  const { messages, stream } = setUp();
  const message = await store(messages, "c1", "RESEQ000TRCE");
  await redis.xgroup("CREATE", stream, GROUP, "0");
  const [pending] = parseReadReply(await redis.xreadgroup("GROUP", GROUP, "test", "STREAMS", stream, ">"));
  assert.ok(pending);
  const receipt = await messages.resequence(pending, message, GROUP);
  assert.ok(receipt && receipt.seq > message.seq);
  const entries = parseReadReply([[stream, await redis.xrange(stream, "-", "+")]]);
  assert.deepEqual(
    entries.map((entry) => [entry.id === pending.id, entry.traceId]),
    [[false, "RESEQ000TRCE"]],
  );
});
