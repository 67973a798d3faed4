import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_CONNECT_RATE_PER_SECOND, DEFAULT_MAX_CONNECTIONS } from "../../server/realtime/admission.js";
import { REPO_ROOT } from "../infra/paths.js";
import { admissionDefaults, chartDefaults, cpuPerDeliveryInMicros, plan, type BenchFigures } from "./plan.js";

const figures: BenchFigures = {
  startedAt: "test",
  fanout: [
    { stack: "ours", roomSize: 10, cpuPerDeliveryInMicros: 30 },
    { stack: "ours", roomSize: 100, cpuPerDeliveryInMicros: 10 },
    { stack: "uws", roomSize: 100, cpuPerDeliveryInMicros: 1 },
  ],
  cluster: [{ roomSize: 100, cpuPerDeliveryInMicros: 11, oneNodeCpuPerDeliveryInMicros: 10 }],
  memory: [{ stack: "ours", connections: 20_000, connectSeconds: 5 }],
  ingest: { maxAckedPerSecond: 10_000, redisCpuUtilisation: 0.5 },
  flush: { flusherRowsPerSecond: 40_000, rawRowsPerSecond: 60_000 },
};

test("CPU per delivery: measured sizes as measured (× cluster overhead), log-interpolated between, per-send cost spread below the smallest", () => {
  assert.equal(cpuPerDeliveryInMicros(figures, 100), 11);
  assert.ok(Math.abs(cpuPerDeliveryInMicros(figures, Math.sqrt(10 * 100)) - 20 * 1.1) < 1e-9);
  assert.ok(Math.abs(cpuPerDeliveryInMicros(figures, 5) - 60 * 1.1) < 1e-9);
  assert.equal(cpuPerDeliveryInMicros(figures, 5000), 11);
});

test("counts with 1.5× headroom, each from its own figure", () => {
  // 10 000 sends/s into rooms of 100: 1e6 deliveries/s × 1.5 × 11 µs = 16.5 cores.
  const result = plan(figures, { users: 100_000, sendsPerSecond: 10_000, roomSize: 100 });
  assert.equal(result.nodes, 17);
  assert.equal(result.nodesBoundBy, "deliveries");
  assert.equal(result.redisPrimaries, Math.ceil((10_000 * 1.5) / 20_000));
  assert.equal(result.flushers, 2);
  assert.equal(result.cassandraNodes, 3);
  const connectionBound = plan(figures, { users: 1_000_000, sendsPerSecond: 10, roomSize: 10 });
  assert.deepEqual([connectionBound.nodes, connectionBound.nodesBoundBy], [75, "connections"]);
  const big = plan(figures, { users: 10, sendsPerSecond: 100_000, roomSize: 1 });
  assert.equal(big.cassandraNodes, Math.ceil((100_000 * 3 * 1.5) / 60_000));
  assert.equal(big.flushers, Math.ceil((100_000 * 1.5) / 40_000));
});

test("the node's admission defaults are the ones derived from the committed bench/results.json", () => {
  const committed = JSON.parse(readFileSync(join(REPO_ROOT, "bench/results.json"), "utf8")) as BenchFigures;
  assert.deepEqual(admissionDefaults(committed), {
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    connectRatePerSecond: DEFAULT_CONNECT_RATE_PER_SECOND,
  });
});

test("the chart's HPA target and waiting room are the ones derived from the committed bench/results.json", () => {
  const committed = JSON.parse(readFileSync(join(REPO_ROOT, "bench/results.json"), "utf8")) as BenchFigures;
  const values = readFileSync(join(REPO_ROOT, "helm/chat/values.yaml"), "utf8");
  const setting = (pattern: RegExp) => Number(pattern.exec(values)?.[1]);
  assert.deepEqual(
    {
      hpaConnectionsPerPod: setting(/^ {6}targetAverageValue: "(\d+)"$/m),
      gatewayMaxConnectionsPerNode: setting(/^ {4}maxConnectionsPerNode: (\d+)$/m),
    },
    chartDefaults(committed),
  );
  assert.ok(chartDefaults(committed).hpaConnectionsPerPod < DEFAULT_MAX_CONNECTIONS, "the HPA scales out before admission refuses");
});
