import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { pino } from "pino";
import type { Socket } from "socket.io";
import { createRegistry } from "../../common/metrics.js";
import { ChatError } from "../chat/errors.js";
import type { Principal } from "../chat/principal.js";
import { createNodeMetrics } from "../metrics.js";
import { bindEvent, type EventDefinition } from "./dispatch.js";

const metrics = createNodeMetrics(createRegistry("node", "dispatch-test"));
const principal = { userId: "alice", expiresAt: Date.now() + 60_000 } as Principal;
const socket = {} as Socket;

/** A logger at `level` whose lines are collected, parsed. */
function capturingLogger(level: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

/** Runs one event through its binding and resolves with the ack's reply and the id the handler was given. */
async function receive(definition: EventDefinition, level: string) {
  const { logger, lines } = capturingLogger(level);
  let reply: unknown;
  await bindEvent(definition, metrics, logger).receive([{ room: "r", text: "secret words" }, (value: unknown) => (reply = value)], {
    socket,
    principal,
  });
  return { reply, lines };
}

test("each event gets its own correlation id; at debug its line carries it with the action, the user and the answered ids", async () => {
  const given: string[] = [];
  const send: EventDefinition = {
    name: "send",
    handle: async (_payload, { traceId }) => (given.push(traceId), { id: "M1", seq: 3, ts: 1 }),
  };
  const first = await receive(send, "debug");
  const second = await receive(send, "debug");
  assert.deepEqual(first.reply, { ok: true, id: "M1", seq: 3, ts: 1 });
  assert.equal(given.length, 2);
  assert.notEqual(given[0], given[1]);
  const [line] = first.lines;
  assert.equal(line?.["msg"], "event handled");
  assert.equal(line?.["trace.id"], given[0]);
  assert.equal(line?.["event.action"], "send");
  assert.equal(line?.["user.id"], "alice");
  assert.equal(line?.["id"], "M1");
  assert.equal(line?.["seq"], 3);
  assert.ok((line?.["event.duration"] as number) >= 0);
  assert.equal(second.lines[0]?.["trace.id"], given[1]);
  assert.equal(JSON.stringify([...first.lines, ...second.lines]).includes("secret words"), false, "the payload is never logged");
});

test("at info a handled event writes no line; a failure is logged with the event's id", async () => {
  let given = "";
  const ok = await receive({ name: "send", handle: async (_p, { traceId }) => ((given = traceId), {}) }, "info");
  assert.deepEqual(ok.lines, []);
  const failed = await receive(
    {
      name: "send",
      handle: async (_p, { traceId }) => {
        given = traceId;
        throw new Error("storage exploded");
      },
    },
    "info",
  );
  assert.deepEqual(failed.reply, { ok: false, error: { code: "INTERNAL", message: "internal error" } });
  assert.equal(failed.lines.length, 1);
  assert.equal(failed.lines[0]?.["msg"], "event handler failed");
  assert.equal(failed.lines[0]?.["trace.id"], given);
});

test("a refused event: at debug a line with its id and the error code", async () => {
  let given = "";
  const refused = await receive(
    {
      name: "send",
      handle: async (_p, { traceId }) => {
        given = traceId;
        throw new ChatError("FORBIDDEN", "not your room");
      },
    },
    "debug",
  );
  assert.equal((refused.reply as { ok: boolean }).ok, false);
  assert.equal(refused.lines[0]?.["msg"], "event refused");
  assert.equal(refused.lines[0]?.["trace.id"], given);
  assert.equal(refused.lines[0]?.["error.code"], "FORBIDDEN");
});
