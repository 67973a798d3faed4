/**
 * The measuring phases every acknowledged operation goes through, sends (scenarios/ingest.ts,
 * also Centrifugo's publishes and the Redis modes) and message changes (scenarios/changes.ts)
 * alike: an unmeasured warm-up, the closed-loop maximum with the node's and Redis's CPU, and
 * ack latency open loop at an offered rate. Every window is refused (lib/integrity.ts) unless
 * each operation in it was acknowledged; its receipts are kept first, for the read-back.
 */
import type { Generator } from "../load/pool.js";
import type { SendPlan, SendResult } from "../load/protocol.js";
import { requireSendsAcknowledged } from "../lib/integrity.js";
import { loadAverage, runQueueWaitInMs, type MeasuredServer } from "../lib/servers.js";
import { summarize, type LatencySummary } from "../lib/stats.js";
import { cpuSnapshot, sumCpu, type RedisPids } from "./measure.js";

/**
 * What an offered rate is relative to: the measured stack's own maximum, a fixed rate, or our
 * maximum (Centrifugo at 50 % of our maximum, so both carry the same offered load).
 */
export type RateBasis = "own maximum" | "fixed" | "our maximum" | "slowest mode's maximum";

export interface OfferedRate {
  basis: RateBasis;
  offeredPerSecond: number;
}

export interface LoadPoint {
  basis: RateBasis;
  /** offeredPerSecond ÷ the measured stack's own maximum. */
  loadFraction: number;
  offeredPerSecond: number;
  ackedPerSecond: number;
  failed: number;
  failures: Record<string, number>;
  ack: LatencySummary;
  /**
   * Share of the window the node's / Redis's main thread was runnable but waiting for a CPU
   * (Centrifugo: the sum over all its threads, which can exceed 1 with several runnable at once).
   */
  nodeRunQueueWaitShare: number;
  redisRunQueueWaitShare: number;
  loadAverage: number;
}

/** One generator's part of a window: how long, and how many in flight (closed loop) or at what rate (open loop). */
export type AckedWindow = Pick<SendPlan, "durationInMs" | "inFlightPerSender" | "ratePerSecond" | "recordAckLatency">;

/** What is measured, and where. */
export interface AckedLoad {
  /** Names the stack (or the operation) in log lines and refusals. */
  who: string;
  /** What is acknowledged, in refusals and log lines. */
  what: "sends" | "changes";
  node: MeasuredServer;
  redisPid: RedisPids;
  generators: readonly Generator[];
  /** Generator g's part of a window. */
  send: (g: number, window: AckedWindow) => Promise<SendResult>;
  /** Keeps the window's receipts for the read-back (or not); returns the results. */
  keep: (results: readonly SendResult[]) => readonly SendResult[];
  log: (line: string) => void;
}

export interface MaximumWindow {
  acked: number;
  maxAckedPerSecond: number;
  /** Node CPU per acknowledged operation, and the node's and Redis's CPU utilisation (1 = one core). */
  nodeCpuPerAckInMicros: number;
  nodeCpuUtilisation: number;
  redisCpuUtilisation: number;
  maxFailures: Record<string, number>;
}

function all(load: AckedLoad, window: AckedWindow): Promise<SendResult[]> {
  return Promise.all(load.generators.map((_, g) => load.send(g, window)));
}

/** Unmeasured closed loop, one in flight per sender: JIT, and the first send to each new room seeds its seq from Cassandra. */
export async function warmUp(load: AckedLoad, durationInMs: number): Promise<void> {
  const results = await all(load, { inFlightPerSender: 1, durationInMs, recordAckLatency: false });
  requireSendsAcknowledged(`${load.who} warm-up`, load.keep(results), load.what);
}

/** The closed-loop maximum: every sender keeps `inFlightPerSender` awaiting their ack for `durationInMs`. */
export async function measureMaximum(load: AckedLoad, inFlightPerSender: number, durationInMs: number): Promise<MaximumWindow> {
  const finish = await cpuSnapshot([load.node], load.redisPid);
  const closed = await all(load, { inFlightPerSender, durationInMs, recordAckLatency: false });
  const window = await finish();
  // A failed or timed-out one is neither in the rate nor in the CPU per operation: the run is refused.
  requireSendsAcknowledged(`${load.who} maximum (closed loop)`, load.keep(closed), load.what);
  const acked = closed.reduce((sum, result) => sum + result.acked, 0);
  const nodeCpu = sumCpu(window, { withRedis: false });
  return {
    acked,
    maxAckedPerSecond: (acked * 1000) / Math.max(...closed.map((result) => result.elapsedInMs)),
    nodeCpuPerAckInMicros: nodeCpu / Math.max(1, acked),
    nodeCpuUtilisation: nodeCpu / 1000 / window.wallInMs,
    redisCpuUtilisation: (window.redisCpuInMicros ?? 0) / 1000 / window.wallInMs,
    maxFailures: mergeFailures(closed.map((r) => r.failures)),
  };
}

/**
 * Ack latency open loop at `rate` for `durationInMs` (acknowledged operations only: a failed one
 * refuses the point); `maxAckedPerSecond` is the stack's own maximum, for the load fraction.
 */
export async function measureAckLatency(
  load: AckedLoad,
  { basis, offeredPerSecond }: OfferedRate,
  maxAckedPerSecond: number,
  durationInMs: number,
): Promise<LoadPoint> {
  const { who, node, redisPid, generators } = load;
  const loadFraction = offeredPerSecond / maxAckedPerSecond;
  const at = describeRate({ basis, loadFraction, offeredPerSecond });
  const { result: results, waitShares } = await withRunQueueWait([node.runQueueWaitInMs ?? node.pid, summedRunQueueWait(redisPid)], () =>
    all(load, { ratePerSecond: offeredPerSecond / generators.length, durationInMs, recordAckLatency: true }),
  );
  // The ack latencies are those of acknowledged operations only: a failed one would be left out of p99.
  requireSendsAcknowledged(`${who} latency at ${at}`, load.keep(results), load.what);
  const point: LoadPoint = {
    basis,
    loadFraction,
    offeredPerSecond,
    ackedPerSecond: (results.reduce((sum, r) => sum + r.acked, 0) * 1000) / Math.max(...results.map((r) => r.elapsedInMs)),
    failed: results.reduce((sum, r) => sum + r.failed, 0),
    failures: mergeFailures(results.map((r) => r.failures)),
    ack: summarize(results.flatMap((r) => r.ackLatenciesInMs)),
    nodeRunQueueWaitShare: waitShares[0]!,
    redisRunQueueWaitShare: waitShares[1]!,
    loadAverage: loadAverage(),
  };
  load.log(
    `  ${who} at ${at}: ack p50 ${point.ack.p50InMs.toFixed(2)} ms, p99 ${point.ack.p99InMs.toFixed(2)} ms, p99.9 ${point.ack.p999InMs.toFixed(2)} ms; server waited for a CPU ${(point.nodeRunQueueWaitShare * 100).toFixed(0)} % of the time, Redis ${(point.redisRunQueueWaitShare * 100).toFixed(0)} %, load average ${point.loadAverage}`,
  );
  return point;
}

export function describeRate(point: Pick<LoadPoint, "basis" | "loadFraction" | "offeredPerSecond">): string {
  if (point.basis === "fixed") return `${point.offeredPerSecond.toFixed(0)}/s`;
  if (point.basis === "our maximum") return `${point.offeredPerSecond.toFixed(0)}/s (50 % of our max)`;
  if (point.basis === "slowest mode's maximum") return `${point.offeredPerSecond.toFixed(0)}/s (50 % of the slowest Redis mode's max)`;
  return `${(point.loadFraction * 100).toFixed(0)} %`;
}

/** Runs `during` and returns the share of its wall time each pid spent waiting for a CPU. */
export async function withRunQueueWait<T>(
  waits: readonly (number | (() => number))[],
  during: () => Promise<T>,
): Promise<{ result: T; waitShares: number[] }> {
  // A pid reads its main thread's wait; a function reads its own (a Go server's: all its threads).
  const read = (wait: number | (() => number)) => (typeof wait === "number" ? runQueueWaitInMs(wait) : wait());
  const started = performance.now();
  const before = waits.map(read);
  const result = await during();
  const elapsed = performance.now() - started;
  return { result, waitShares: waits.map((wait, i) => (read(wait) - before[i]!) / elapsed) };
}

/** Share of the window each of `pids` spent waiting for a CPU, summed (a Redis Cluster's nodes). */
function summedRunQueueWait(pids: RedisPids): () => number {
  return () => (typeof pids === "number" ? [pids] : pids).reduce((sum, pid) => sum + runQueueWaitInMs(pid), 0);
}

export function mergeFailures(all: readonly Record<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const failures of all) for (const [code, count] of Object.entries(failures)) merged[code] = (merged[code] ?? 0) + count;
  return merged;
}
