import { test } from "node:test";
import assert from "node:assert/strict";
import { windowPercentile, firstAndLastWindows, type ArtilleryResult, type MetricsBlock } from "./artillery-json.js";
import { niceCeiling } from "./charts.js";
import { phaseEnds, phaseFigures, phaseStarts } from "./phases.js";
import { bucketsOf, parsePrometheusText, quantileBetween, sumOf } from "./prom.js";
import { ensureVerdicts } from "./render.js";
import { slope } from "./server-figures.js";

const METRICS = `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes{component="node",node="n1"} 104857600
chat_errors_total{code="FORBIDDEN",event="join",component="node",node="n1"} 2
chat_errors_total{code="BAD_REQUEST",event="send",component="node",node="n1"} 3
chat_ack_latency_seconds_bucket{le="0.001",component="node",node="n1"} 10
chat_ack_latency_seconds_bucket{le="0.01",component="node",node="n1"} 90
chat_ack_latency_seconds_bucket{le="0.1",component="node",node="n1"} 100
chat_ack_latency_seconds_bucket{le="+Inf",component="node",node="n1"} 100
`;

test("Prometheus text: samples, labels, sums and histogram buckets", () => {
  const samples = parsePrometheusText(METRICS);
  assert.equal(sumOf(samples, "process_resident_memory_bytes"), 104857600);
  assert.equal(samples[0]!.labels["node"], "n1");
  assert.equal(sumOf(samples, "chat_errors_total"), 5);
  assert.equal(sumOf(samples, "chat_errors_total", { event: "send" }), 3);
  assert.equal(sumOf(samples, "no_such_metric"), undefined);
  assert.deepEqual(
    [...bucketsOf(samples, "chat_ack_latency_seconds")],
    [
      [0.001, 10],
      [0.01, 90],
      [0.1, 100],
      [Infinity, 100],
    ],
  );
});

test("a quantile between two histogram snapshots counts only the observations in between", () => {
  const before = new Map([
    [0.001, 10],
    [0.01, 10],
    [0.1, 10],
    [Infinity, 10],
  ]);
  const after = new Map([
    [0.001, 10],
    [0.01, 60],
    [0.1, 110],
    [Infinity, 110],
  ]);
  // 100 new observations: 50 in (0.001, 0.01], 50 in (0.01, 0.1]; the 99th is near the top of the second bucket.
  assert.ok(Math.abs(quantileBetween(before, after, 0.99)! - (0.01 + 0.09 * (49 / 50))) < 1e-9);
  assert.ok(Math.abs(quantileBetween(before, after, 0.5)! - 0.01) < 1e-9);
  assert.equal(quantileBetween(after, after, 0.99), undefined, "nothing observed");
});

test("RSS slope is the least-squares slope; too few points give none", () => {
  assert.equal(
    slope([
      [0, 100],
      [1, 102],
      [2, 104],
      [3, 106],
    ]),
    2,
  );
  assert.equal(
    slope([
      [0, 5],
      [1, 5],
      [2, 5],
    ]),
    0,
  );
  assert.equal(
    slope([
      [0, 1],
      [1, 2],
    ]),
    undefined,
  );
});

test("ensure verdicts are read from Artillery's output, colour codes and all", () => {
  const log =
    "All VUs finished.\n\u001b[32mok\u001b[39m: chat.ack_latency.p99 < 250\n\u001b[31mfail\u001b[39m: chat.messages_lost == 0\nok: x > 1 (optional)\n";
  assert.deepEqual(ensureVerdicts(log), [
    { ok: true, expression: "chat.ack_latency.p99 < 250" },
    { ok: false, expression: "chat.messages_lost == 0" },
    { ok: true, expression: "x > 1" },
  ]);
});

function block(period: number, p99: number | undefined, count = 10): MetricsBlock {
  const summaries: MetricsBlock["summaries"] =
    p99 === undefined ? {} : { "chat.ack_latency": { min: 1, max: p99, count, mean: 1, p50: 1, p95: p99, p99 } };
  return { counters: {}, summaries, period, firstMetricAt: period, lastMetricAt: period + 9999 };
}

test("first and last minute: the periods with traffic, the worst and the count-weighted p99", () => {
  const result: ArtilleryResult = {
    aggregate: block(0, 1),
    intermediate: [
      block(0, undefined),
      ...Array.from({ length: 12 }, (_, i) => block((i + 1) * 10_000, i === 0 ? 30 : 10 + i, i === 0 ? 30 : 10)),
    ],
  };
  const { first, last } = firstAndLastWindows(result, "chat.ack_latency", 60_000);
  assert.deepEqual(
    first.map((b) => b.period),
    [10_000, 20_000, 30_000, 40_000, 50_000, 60_000],
  );
  assert.deepEqual(
    last.map((b) => b.period),
    [70_000, 80_000, 90_000, 100_000, 110_000, 120_000],
  );
  const window = windowPercentile(first, "chat.ack_latency")!;
  assert.equal(window.worst, 30);
  assert.equal(window.count, 80);
  assert.ok(Math.abs(window.mean - (30 * 30 + (11 + 12 + 13 + 14 + 15) * 10) / 80) < 1e-9);
  assert.equal(windowPercentile([block(0, undefined)], "chat.ack_latency"), undefined);
});

test("axis tops are round numbers at or above the data", () => {
  assert.deepEqual([0, 70, 1, 3, 7, 12, 250, 999].map(niceCeiling), [1, 80, 1, 4, 8, 20, 400, 1000]);
});

test("phase starts and ends are read from Artillery's output, on the run's day", () => {
  const runStartedAt = Date.UTC(2026, 10, 24, 21, 39, 13);
  const log = [
    "Phase started: warm-up (index: 0, duration: 30s) 21:39:34(+0000)",
    "Phase completed: warm-up (index: 0, duration: 30s) 21:40:04(+0000)",
    "Phase started: spike ×10 (index: 1, duration: 60s) 21:40:04(+0000)",
    "Phase completed: spike ×10 (index: 1, duration: 60s) 21:41:04(+0000)",
  ].join("\n");
  assert.deepEqual(phaseStarts(log, runStartedAt), [
    { name: "warm-up", startedAt: Date.UTC(2026, 10, 24, 21, 39, 34) },
    { name: "spike ×10", startedAt: Date.UTC(2026, 10, 24, 21, 40, 4) },
  ]);
  assert.deepEqual(
    phaseEnds(log, runStartedAt).map((end) => end.startedAt),
    [Date.UTC(2026, 10, 24, 21, 40, 4), Date.UTC(2026, 10, 24, 21, 41, 4)],
  );
  // A run that started before midnight: a phase at 00:00:05 is on the next day.
  assert.deepEqual(phaseStarts("Phase started: late (index: 0, duration: 1s) 00:00:05(+0000)", Date.UTC(2026, 10, 24, 23, 59, 50)), [
    { name: "late", startedAt: Date.UTC(2026, 10, 25, 0, 0, 5) },
  ]);
});

test("per-phase figures take the periods whose middle falls in the phase", () => {
  const t0 = 1_000_000_000_000;
  const period = (start: number, created: number, acked: number): MetricsBlock => ({
    ...block(start, 50),
    counters: { "vusers.created": created, "chat.messages_acked": acked, "chat.changes_acked": acked / 10 },
  });
  const result: ArtilleryResult = {
    aggregate: block(t0, 1),
    intermediate: [period(t0, 10, 100), period(t0 + 10_000, 10, 200), period(t0 + 20_000, 50, 900)],
  };
  const [first, second] = phaseFigures(result, [
    { name: "a", startedAt: t0 },
    { name: "b", startedAt: t0 + 18_000 },
  ]);
  assert.equal(first!.periods, 2);
  assert.equal(first!.arrivalsPerSecond, 1);
  assert.equal(first!.ackedPerSecond, 15);
  assert.equal(first!.changesAckedPerSecond, 1.5);
  assert.equal(second!.arrivalsPerSecond, 5);
  assert.equal(second!.ackP99!.worst, 50);
});
