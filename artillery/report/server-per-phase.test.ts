import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServerSample } from "./sampler.js";
import { nodeSendsBetween, serverAckPerPhase, serverCheckLine } from "./server-per-phase.js";

/** A node's sample with cumulative counts at le 0.01, 0.1 and +Inf. */
function sample(source: string, at: number, under10ms: number, under100ms: number, total: number): ServerSample {
  return {
    at,
    source,
    rssBytes: undefined,
    eventLoopLagSeconds: undefined,
    connections: undefined,
    streamBacklog: undefined,
    messagesIn: undefined,
    errors: undefined,
    ackBuckets: new Map([
      [0.01, under10ms],
      [0.1, under100ms],
      [Infinity, total],
    ]),
  };
}

test("each phase gets the nodes' summed ack counts between its start and the next phase's", () => {
  const samples = [
    sample("node/n1", 0, 0, 0, 0),
    sample("node/n2", 0, 0, 0, 0),
    // steady: 200 acks, all under 10 ms.
    sample("node/n1", 100, 100, 100, 100),
    sample("node/n2", 100, 100, 100, 100),
    // spike: 200 more, half of n2's between 10 and 100 ms.
    sample("node/n1", 200, 200, 200, 200),
    sample("node/n2", 200, 150, 200, 200),
  ];
  const phases = serverAckPerPhase(samples, [
    { name: "steady", startedAt: 0 },
    { name: "spike", startedAt: 100 },
  ]);
  assert.deepEqual(
    phases.map((phase) => [phase.name, phase.acks]),
    [
      ["steady", 200],
      ["spike", 200],
    ],
  );
  assert.ok(phases[0]!.p99Ms! <= 10, `steady p99 ${phases[0]!.p99Ms} within the first bucket`);
  // 150 of 200 under 10 ms: p99's rank 198 falls in (10, 100] ms, 48 of 50 into it.
  assert.ok(Math.abs(phases[1]!.p99Ms! - (10 + (90 * 48) / 50)) < 1e-9, `spike p99 ${phases[1]!.p99Ms}`);
});

test("a node whose first sample comes after a phase began counts from zero; a phase with no acks has no figure", () => {
  const samples = [sample("node/n1", 0, 0, 0, 0), sample("node/n1", 50, 0, 0, 0), sample("node/n2", 150, 10, 10, 10)];
  const phases = serverAckPerPhase(samples, [
    { name: "quiet", startedAt: 0 },
    { name: "late", startedAt: 100 },
  ]);
  assert.deepEqual(
    phases.map((phase) => [phase.name, phase.acks, phase.p99Ms === undefined]),
    [
      ["quiet", 0, true],
      ["late", 10, false],
    ],
  );
});

test("the nodes' acknowledged sends between two moments, each node from its last sample at or before each", () => {
  const at = (source: string, time: number, messagesIn: number | undefined): ServerSample => ({
    ...sample(source, time, 0, 0, 0),
    messagesIn,
  });
  const samples = [
    at("node/n1", 0, 10),
    at("node/n2", 0, 5),
    at("node/n1", 100, 60),
    at("node/n2", 100, 25),
    at("flusher/f", 100, undefined),
  ];
  assert.equal(nodeSendsBetween(samples, 0, 100), 70);
  assert.equal(nodeSendsBetween(samples, 50, 99), 0, "no sample moved inside the window");
  assert.equal(nodeSendsBetween([at("flusher/f", 0, undefined)], 0, 100), undefined);
});

test("the spike's 2× check on the nodes' own p99: met, missed, or not measured", () => {
  const phases = [
    { name: "steady", acks: 100, p99Ms: 20 },
    { name: "spike", acks: 100, p99Ms: 40 },
    { name: "recovery", acks: 100, p99Ms: 41 },
    { name: "idle", acks: 0, p99Ms: undefined },
  ];
  assert.match(serverCheckLine(phases, "steady", "spike"), /: \*\*met\*\* \(40\.0 ms vs 2 × 20\.0 = 40\.0 ms\)$/);
  assert.match(serverCheckLine(phases, "steady", "recovery"), /: \*\*missed\*\* \(41\.0 ms/);
  assert.match(serverCheckLine(phases, "idle", "spike"), /: not measured/);
});
