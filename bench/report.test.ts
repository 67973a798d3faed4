import assert from "node:assert/strict";
import { test } from "node:test";
import { CHECKS, FigureRefused } from "./lib/integrity.js";
import { buildChecks, centrifugoChecks, ingestTable, type BenchResults } from "./report.js";
import type { FanoutRow } from "./scenarios/fanout.js";
import type { LoadPoint, RateBasis } from "./scenarios/acked-load.js";

const latency = { samples: 100, p50InMs: 1, p99InMs: 2, p999InMs: 3, maxInMs: 4 };

/** A sound run's results, small: every count equal to what was expected. */
function soundResults(): BenchResults {
  const fanoutRow = (stack: FanoutRow["stack"], cpu: number, withRedis: number | null = null): FanoutRow => ({
    stack,
    roomSize: 10,
    sends: 100,
    deliveries: 1000,
    expectedDeliveries: 1000,
    serverCpuInMicros: cpu * 1000,
    redisCpuInMicros: withRedis === null ? null : (withRedis - cpu) * 1000,
    cpuPerDeliveryInMicros: cpu,
    systemCpuPerDeliveryInMicros: 1,
    cpuWithRedisPerDeliveryInMicros: withRedis,
    wallInMs: 1000,
    rounds: [cpu],
    idleCpuPerDeliveryInMicros: 0.1,
  });
  const point = (basis: RateBasis, loadFraction: number, p99InMs = 2): LoadPoint => ({
    basis,
    loadFraction,
    offeredPerSecond: 100,
    ackedPerSecond: 100,
    failed: 0,
    failures: {},
    ack: { ...latency, p99InMs },
    nodeRunQueueWaitShare: 0,
    redisRunQueueWaitShare: 0,
    loadAverage: 1,
  });
  return {
    mode: "quick",
    startedAt: "2026-01-01T00:00:00.000Z",
    durationInSeconds: 1,
    machine: { cpuModel: "test", cores: 2, memory: "1Gi", node: "v20", kernel: "test" },
    loadAverages: { atStart: 0, atEnd: 0 },
    fanout: [fanoutRow("ours", 6, 8), fanoutRow("uws", 5), fanoutRow("centrifugo", 8, 12), fanoutRow("centrifugo-memory", 7)],
    cluster: [
      {
        roomSize: 100,
        nodes: 2,
        sends: 10,
        deliveries: 1000,
        expectedDeliveries: 1000,
        cpuByProcessInMicros: {},
        cpuPerDeliveryInMicros: 10,
        oneNodeCpuPerDeliveryInMicros: 9,
        rounds: [{ cluster: 10, oneNode: 9 }],
      },
    ],
    memory: [],
    ingest: {
      maxAckedPerSecond: 200,
      nodeCpuPerSendInMicros: 50,
      nodeCpuUtilisation: 0.5,
      redisCpuUtilisation: 0.2,
      maxFailures: {},
      points: [point("own maximum", 0.5), point("own maximum", 0.8), point("fixed", 0.2, 3)],
    },
    endToEnd: {
      offeredPerSecond: 100,
      sent: 500,
      acked: 500,
      received: 500,
      latency,
      runQueueWaitShares: { nodeA: 0, nodeB: 0, redis: 0 },
      loadAverage: 1,
    },
    flush: {
      rows: 1000,
      rawRowsPerSecond: 100,
      rawByStrategy: { concurrent: 100 },
      flusherRowsPerSecond: 95,
      flusherCpuUtilisation: 0.5,
      fillSeconds: 1,
      flusherBatches: null,
      rawRowsCounted: 1000,
      flusherRowsCounted: 1000,
    },
    latencyPlacement: null,
    centrifugo: {
      version: "v6.9.1",
      ingest: {
        maxAckedPerSecond: 400,
        nodeCpuPerSendInMicros: 20,
        nodeCpuUtilisation: 0.5,
        redisCpuUtilisation: 0.3,
        maxFailures: {},
        points: [point("fixed", 0.1, 4), point("our maximum", 0.25)],
      },
    },
    redisModes: {
      primaries: 3,
      replicasPerPrimary: 1,
      offeredPerSecond: 100,
      placement: null,
      rows: [0, 1].map((ackReplicas) => ({
        label: `Redis Cluster, ack replicas ${ackReplicas}`,
        mode: "cluster" as const,
        ackReplicas,
        redisProcesses: 6,
        maxAckedPerSecond: 300,
        nodeCpuPerSendInMicros: 100,
        redisCpuPerSendInMicros: 50,
        redisCpuUtilisation: 0.1,
        latency: point("slowest mode's maximum", 0.33),
        storedReadBack: 900,
        acknowledged: 900,
      })),
    },
    changes: {
      seeded: 300,
      targets: 128,
      maxAckedPerSecond: 150,
      nodeCpuPerChangeInMicros: 70,
      nodeCpuUtilisation: 0.6,
      redisCpuUtilisation: 0.3,
      maxFailures: {},
      points: [point("fixed", 0.5, 5), point("own maximum", 0.5, 6)],
      acknowledged: 700,
      storedReadBack: 700,
    },
  };
}

const refusedBy = (check: string) => (error: unknown) => error instanceof FigureRefused && error.check === check;

test("a sound run's results make the table", () => {
  const checks = buildChecks(soundResults());
  assert.ok(checks.some((c) => c.item === 1 && c.met));
});

test("memory: heap and RSS per idle connection against their limits, socket.io on ws beside", () => {
  const row = (stack: "ours" | "socketio", heapKb: number, rssKb: number) => ({
    stack,
    connections: 1000,
    requestedConnections: 1000,
    heapPerConnectionInBytes: heapKb * 1024,
    rssPerConnectionInBytes: rssKb * 1024,
    baseline: { heapUsedInBytes: 0, rssInBytes: 0 },
    loaded: { heapUsedInBytes: 0, rssInBytes: 0 },
    connectSeconds: 1,
  });
  const checks = buildChecks({ ...soundResults(), memory: [row("ours", 3, 12), row("socketio", 6, 20)] }).filter((c) => c.item === 3);
  assert.deepEqual(
    checks.map(({ what, ours, reference, value, unit, kind, limit, met }) => ({ what, ours, reference, value, unit, kind, limit, met })),
    [
      {
        what: "heap per idle connection (1000 idle conns)",
        ours: "3.00 KB",
        reference: "6.00 KB socket.io/ws",
        value: 3,
        unit: "KB",
        kind: "max",
        limit: 4,
        met: true,
      },
      {
        what: "RSS per idle connection (1000 idle conns)",
        ours: "12.00 KB",
        reference: "20.00 KB socket.io/ws",
        value: 12,
        unit: "KB",
        kind: "max",
        limit: 10,
        met: false,
      },
    ],
  );
});

test("the Centrifugo rows are ratios of the same run's figures against the issue's targets", () => {
  const rows = buildChecks(soundResults()).filter((c) => c.item === 7);
  const row = (prefix: string) => rows.find((c) => c.what.startsWith(prefix))!;
  // CPU incl. Redis 8 vs 12 µs: 0.67× ≤ 0.8×; max 200 vs 400/s: 0.5× < 1.2×; p99 at the fixed rate 3 vs 4 ms: 0.75× ≤ 1×.
  assert.equal(rows.length, 3);
  assert.deepEqual([row("CPU+Redis/delivery, room 10").value, row("CPU+Redis/delivery, room 10").met], [8 / 12, true]);
  assert.deepEqual([row("max acked sends/s").value, row("max acked sends/s").met], [0.5, false]);
  assert.deepEqual([row("ack p99 at").value, row("ack p99 at").met], [0.75, true]);
});

test("a partial run's Centrifugo rows are those it has both sides of", () => {
  const r = soundResults();
  assert.deepEqual(
    centrifugoChecks(r.fanout, undefined, r.centrifugo!).map((c) => c.what),
    ["CPU+Redis/delivery, room 10, vs Centrifugo+Redis"],
  );
  assert.equal(
    centrifugoChecks(
      r.fanout.filter((row) => row.stack !== "ours"),
      r.ingest,
      r.centrifugo!,
    ).filter((c) => c.what.startsWith("CPU")).length,
    0,
  );
});

test("no Centrifugo rows when it was not measured", () => {
  const results = soundResults();
  results.centrifugo = null;
  assert.equal(buildChecks(results).filter((c) => c.item === 7).length, 0);
});

test("no table from results whose counts differ from what was expected", () => {
  const broken: [string, (r: BenchResults) => void][] = [
    [CHECKS.deliveries, (r) => (r.fanout[0]!.deliveries = 999)],
    [CHECKS.deliveries, (r) => (r.fanout[1]!.deliveries = 1001)],
    [CHECKS.deliveries, (r) => (r.cluster[0]!.deliveries = 990)],
    [CHECKS.sends, (r) => (r.ingest.points[0]!.failed = 1)],
    [CHECKS.sends, (r) => (r.ingest.maxFailures = { TIMEOUT: 1 })],
    [CHECKS.sends, (r) => (r.endToEnd.acked = 499)],
    [CHECKS.deliveries, (r) => (r.endToEnd.received = 499)],
    [CHECKS.rows, (r) => (r.flush.flusherRowsCounted = 999)],
    [CHECKS.rows, (r) => (r.flush.rawRowsCounted = 999)],
    [CHECKS.deliveries, (r) => (r.fanout[2]!.deliveries = 999)],
    [CHECKS.deliveries, (r) => (r.fanout[3]!.deliveries = 1001)],
    [CHECKS.sends, (r) => (r.centrifugo!.ingest.maxFailures = { TIMEOUT: 1 })],
    [CHECKS.sends, (r) => (r.centrifugo!.ingest.points[1]!.failed = 2)],
    [CHECKS.sends, (r) => (r.redisModes!.rows[0]!.latency.failed = 1)],
    [CHECKS.stored, (r) => (r.redisModes!.rows[1]!.storedReadBack = 899)],
    [CHECKS.stored, (r) => (r.redisModes!.rows[0]!.acknowledged = 0)],
    [CHECKS.changes, (r) => (r.changes!.maxFailures = { NOT_FOUND: 1 })],
    [CHECKS.changes, (r) => (r.changes!.points[0]!.failed = 1)],
    [CHECKS.changesStored, (r) => (r.changes!.storedReadBack = 699)],
    [CHECKS.changesStored, (r) => (r.changes!.acknowledged = 0)],
  ];
  for (const [check, breakIt] of broken) {
    const results = soundResults();
    breakIt(results);
    assert.throws(() => buildChecks(results), refusedBy(check), breakIt.toString());
  }
});

test("sends and changes share one ingest table; changes are marked ours only", () => {
  const r = soundResults();
  const table = ingestTable(r.ingest, r.changes!, r.centrifugo);
  const lines = table.split("\n");
  const sends = lines.find((line) => line.startsWith("| ours | send |"))!;
  const changes = lines.find((line) => line.startsWith("| ours | change"))!;
  assert.match(sends, /\| 200 \| 50\.0 \| 1\.00 \/ 3\.00 \/ 3\.00 \(100\/s\) \|/);
  assert.match(
    changes,
    /\| 150 \| 70\.0 \| 1\.00 \/ 5\.00 \/ 3\.00 \(100\/s\) \| 1\.00 \/ 6\.00 \/ 3\.00 \(100\/s\) \| 700 \/ 700 changes/,
  );
  assert.ok(lines.some((line) => line.startsWith("| Centrifugo, raw uWS | change | – |")));
  assert.match(table, /Changes are ours only/);
  // Without changes measured: no changes row and no note.
  assert.doesNotMatch(ingestTable(r.ingest, null, r.centrifugo), /change/);
});
