/**
 * Item 4: durable ingest on one node. The maximum is the acknowledged sends per second of a
 * closed loop (every sender keeps a few sends awaiting their ack); latency is then taken open
 * loop, at 50 % and 80 % of that maximum and at a fixed rate (2000/s, the rate the Centrifugo
 * comparison uses), from each send to its ack. Centrifugo's publishes are measured by the same
 * code (scenarios/centrifugo.ts), with its own rates.
 *
 * Item 6: end to end. Senders on node A, one receiver per room on node B, at 50 % of the
 * maximum ingest; latency from the send (time written in the text) to the receipt on B.
 */
import type { Generator } from "../load/pool.js";
import type { Receipt, SendResult, WireKind } from "../load/protocol.js";
import { CHECKS, FigureRefused, requireExactDeliveries, requireNothingAfterWindow, requireSendsAcknowledged } from "../lib/integrity.js";
import { loadAverage, runQueueWaitInMs, type MeasuredServer } from "../lib/servers.js";
import { summarize, type LatencySummary } from "../lib/stats.js";
import { cpuSnapshot, sumCpu, type RedisPids } from "./measure.js";

export interface IngestSettings {
  sendersPerGenerator: number;
  rooms: number;
  inFlightPerSender: number;
  maxDurationInMs: number;
  /** Unmeasured closed loop before the maximum is taken. */
  warmupInMs: number;
  latencyDurationInMs: number;
  textBytes: number;
  /** The fixed offered rate latency is also measured at, for every stack (sends/s). */
  fixedRatePerSecond: number;
}

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

export interface IngestResult {
  maxAckedPerSecond: number;
  /** Node CPU per acknowledged send at the maximum, and the node's CPU utilisation (1 = one core). */
  nodeCpuPerSendInMicros: number;
  nodeCpuUtilisation: number;
  redisCpuUtilisation: number;
  maxFailures: Record<string, number>;
  points: LoadPoint[];
}

export interface IngestClients {
  /** Index of the first sender in each generator. */
  firsts: number[];
}

export async function connectSenders(
  generators: readonly Generator[],
  url: string,
  tokens: readonly string[],
  settings: IngestSettings,
  kind: WireKind = "socketio",
): Promise<IngestClients> {
  const firsts = await Promise.all(
    generators.map((generator, g) => generator.connect(kind, url, settings.sendersPerGenerator, { token: tokens[g] })),
  );
  return { firsts };
}

export function roomsFor(prefix: string, generatorIndex: number, settings: IngestSettings): string[] {
  // Rooms spread so that the two generators' senders share them, like users of one room on two clients.
  return Array.from({ length: settings.sendersPerGenerator }, (_, i) => `${prefix}-${(i * 2 + generatorIndex) % settings.rooms}`);
}

/** Our latency points: 50 % and 80 % of our maximum, and the fixed rate. */
export function ourRates(settings: IngestSettings): (max: number) => OfferedRate[] {
  return (max) => [
    { basis: "own maximum", offeredPerSecond: max * 0.5 },
    { basis: "own maximum", offeredPerSecond: max * 0.8 },
    { basis: "fixed", offeredPerSecond: settings.fixedRatePerSecond },
  ];
}

export function describeRate(point: Pick<LoadPoint, "basis" | "loadFraction" | "offeredPerSecond">): string {
  if (point.basis === "fixed") return `${point.offeredPerSecond.toFixed(0)}/s`;
  if (point.basis === "our maximum") return `${point.offeredPerSecond.toFixed(0)}/s (50 % of our max)`;
  if (point.basis === "slowest mode's maximum") return `${point.offeredPerSecond.toFixed(0)}/s (50 % of the slowest Redis mode's max)`;
  return `${(point.loadFraction * 100).toFixed(0)} %`;
}

export interface IngestOptions {
  /** Names the stack in log lines and refusals. */
  who?: string;
  /** Names its rooms (channels). */
  roomPrefix?: string;
  /** The offered rates of the latency points, from the maximum just measured. */
  rates?: (max: number) => OfferedRate[];
  /** When given, every acknowledged send's receipt is appended to it. */
  receipts?: Receipt[];
}

/** Generator g's senders, their rooms and message size. */
function planOf(clients: IngestClients, settings: IngestSettings, { roomPrefix = "ing", receipts }: IngestOptions) {
  return (g: number) => ({
    from: clients.firsts[g]!,
    to: clients.firsts[g]! + settings.sendersPerGenerator,
    rooms: roomsFor(roomPrefix, g, settings),
    textBytes: settings.textBytes,
    recordReceipts: receipts !== undefined,
  });
}

/** Each result's receipts appended to `into` (when receipts are kept); returns the results. */
export function keepReceipts(results: readonly SendResult[], into: Receipt[] | undefined): readonly SendResult[] {
  if (into) for (const result of results) for (const receipt of result.receipts ?? []) into.push(receipt);
  return results;
}

/** Share of the window each of `pids` spent waiting for a CPU, summed (a Redis Cluster's nodes). */
function summedRunQueueWait(pids: RedisPids): () => number {
  return () => (typeof pids === "number" ? [pids] : pids).reduce((sum, pid) => sum + runQueueWaitInMs(pid), 0);
}

/**
 * The closed-loop maximum, then ack latency open loop at each of `rates(maximum)`. `who` names
 * the stack in log lines and refusals; `roomPrefix` names its rooms (channels). With
 * `receipts`, every acknowledged send's receipt is appended to it, to be read back from
 * Cassandra (lib/receipts.ts) once the measurement is over.
 */
export async function measureIngest(
  node: MeasuredServer,
  redisPid: RedisPids,
  generators: readonly Generator[],
  clients: IngestClients,
  settings: IngestSettings,
  log: (line: string) => void,
  options: IngestOptions = {},
): Promise<IngestResult> {
  const { who = "ingest", rates = ourRates(settings), receipts } = options;
  const plan = planOf(clients, settings, options);
  // Warm-up (unmeasured): JIT, and the first send to each new room seeds its seq from Cassandra.
  requireSendsAcknowledged(
    `${who} warm-up`,
    keepReceipts(
      await Promise.all(
        generators.map((generator, g) =>
          generator.send({ ...plan(g), inFlightPerSender: 1, durationInMs: settings.warmupInMs, recordAckLatency: false }),
        ),
      ),
      receipts,
    ),
  );
  const finish = await cpuSnapshot([node], redisPid);
  const closed = await Promise.all(
    generators.map((generator, g) =>
      generator.send({
        ...plan(g),
        inFlightPerSender: settings.inFlightPerSender,
        durationInMs: settings.maxDurationInMs,
        recordAckLatency: false,
      }),
    ),
  );
  const window = await finish();
  // A failed or timed-out send is neither in the rate nor in the CPU per send: the run is refused.
  requireSendsAcknowledged(`${who} maximum (closed loop)`, keepReceipts(closed, receipts));
  const acked = closed.reduce((sum, result) => sum + result.acked, 0);
  const elapsedInMs = Math.max(...closed.map((result) => result.elapsedInMs));
  const maxAckedPerSecond = (acked * 1000) / elapsedInMs;
  const nodeCpu = sumCpu(window, { withRedis: false });
  const result: IngestResult = {
    maxAckedPerSecond,
    nodeCpuPerSendInMicros: nodeCpu / Math.max(1, acked),
    nodeCpuUtilisation: nodeCpu / 1000 / window.wallInMs,
    redisCpuUtilisation: (window.redisCpuInMicros ?? 0) / 1000 / window.wallInMs,
    maxFailures: mergeFailures(closed.map((r) => r.failures)),
    points: [],
  };
  log(
    `  ${who} max: ${maxAckedPerSecond.toFixed(0)} acked sends/s (server CPU ${(result.nodeCpuUtilisation * 100).toFixed(0)} %, redis ${(result.redisCpuUtilisation * 100).toFixed(0)} %)`,
  );
  for (const rate of rates(maxAckedPerSecond))
    result.points.push(await measureLoadPoint(node, redisPid, generators, clients, settings, log, rate, maxAckedPerSecond, options));
  return result;
}

/**
 * Ack latency open loop at `rate` (from each send to its ack, acknowledged sends only: a failed
 * one refuses the point); `maxAckedPerSecond` is the stack's own maximum, for the load fraction.
 */
export async function measureLoadPoint(
  node: MeasuredServer,
  redisPid: RedisPids,
  generators: readonly Generator[],
  clients: IngestClients,
  settings: IngestSettings,
  log: (line: string) => void,
  { basis, offeredPerSecond }: OfferedRate,
  maxAckedPerSecond: number,
  options: IngestOptions = {},
): Promise<LoadPoint> {
  const { who = "ingest", receipts } = options;
  const plan = planOf(clients, settings, options);
  const loadFraction = offeredPerSecond / maxAckedPerSecond;
  const at = describeRate({ basis, loadFraction, offeredPerSecond });
  const { result: results, waitShares } = await withRunQueueWait([node.runQueueWaitInMs ?? node.pid, summedRunQueueWait(redisPid)], () =>
    Promise.all(
      generators.map((generator, g) =>
        generator.send({
          ...plan(g),
          ratePerSecond: offeredPerSecond / generators.length,
          durationInMs: settings.latencyDurationInMs,
          recordAckLatency: true,
        }),
      ),
    ),
  );
  // The ack latencies are those of acknowledged sends only: a failed one would be left out of p99.
  requireSendsAcknowledged(`${who} latency at ${at}`, keepReceipts(results, receipts));
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
  log(
    `  ${who} at ${at}: ack p50 ${point.ack.p50InMs.toFixed(2)} ms, p99 ${point.ack.p99InMs.toFixed(2)} ms, p99.9 ${point.ack.p999InMs.toFixed(2)} ms; server waited for a CPU ${(point.nodeRunQueueWaitShare * 100).toFixed(0)} % of the time, Redis ${(point.redisRunQueueWaitShare * 100).toFixed(0)} %, load average ${point.loadAverage}`,
  );
  return point;
}

export interface EndToEndResult {
  offeredPerSecond: number;
  sent: number;
  acked: number;
  received: number;
  latency: LatencySummary;
  /** Share of the window each node's main thread (A, B) and Redis were runnable but waiting for a CPU. */
  runQueueWaitShares: { nodeA: number; nodeB: number; redis: number };
  loadAverage: number;
}

/** Senders are generator 0's ingest clients (on node A); generator 1 opens one receiver per room on node B. */
export async function measureEndToEnd(
  sender: Generator,
  senders: IngestClients,
  receiver: Generator,
  urlB: string,
  tokenB: string,
  ratePerSecond: number,
  settings: IngestSettings,
  pids: { nodeA: number; nodeB: number; redis: number },
  log: (line: string) => void,
  receipts?: Receipt[],
): Promise<EndToEndResult> {
  const rooms = Array.from({ length: settings.rooms }, (_, i) => `e2e-${i}`);
  const first = await receiver.connect("socketio", urlB, rooms.length, { token: tokenB });
  for (const [i, room] of rooms.entries()) await receiver.join(first + i, first + i + 1, room);
  await receiver.reset(rooms);
  await receiver.collect();
  await receiver.record(true);
  const from = senders.firsts[0]!;
  const { result, waitShares } = await withRunQueueWait([pids.nodeA, pids.nodeB, pids.redis], () =>
    sender.send({
      from,
      to: from + settings.sendersPerGenerator,
      rooms,
      textBytes: settings.textBytes,
      ratePerSecond,
      durationInMs: settings.latencyDurationInMs,
      recordAckLatency: false,
      recordReceipts: receipts !== undefined,
    }),
  );
  const where = "end to end (A→B)";
  requireSendsAcknowledged(where, keepReceipts([result], receipts));
  // Let the last messages arrive before reading the receiver: one receiver per room, so each
  // acknowledged send is exactly one delivery.
  const deadline = performance.now() + 5000;
  let tally = await receiver.tally();
  while (tally.counted < result.acked && tally.duplicated + tally.misrouted + tally.malformed === 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    tally = await receiver.tally();
  }
  await receiver.record(false);
  const latencies = await receiver.collect();
  requireExactDeliveries(where, result.acked, tally);
  await new Promise((resolve) => setTimeout(resolve, 200));
  requireNothingAfterWindow(where, tally, await receiver.tally(), result.acked);
  if (latencies.length !== tally.counted)
    throw new FigureRefused(CHECKS.latencySamples, where, `${latencies.length} latency samples for ${tally.counted} deliveries`);
  const out: EndToEndResult = {
    offeredPerSecond: ratePerSecond,
    sent: result.sent,
    acked: result.acked,
    received: tally.counted,
    latency: summarize(latencies),
    runQueueWaitShares: { nodeA: waitShares[0]!, nodeB: waitShares[1]!, redis: waitShares[2]! },
    loadAverage: loadAverage(),
  };
  log(
    `  end to end at ${ratePerSecond.toFixed(0)}/s: p50 ${out.latency.p50InMs.toFixed(2)} ms, p99 ${out.latency.p99InMs.toFixed(2)} ms (${out.received}/${out.acked} received); waited for a CPU: node A ${(waitShares[0]! * 100).toFixed(0)} %, node B ${(waitShares[1]! * 100).toFixed(0)} %, Redis ${(waitShares[2]! * 100).toFixed(0)} %`,
  );
  return out;
}

export function mergeFailures(all: readonly Record<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const failures of all) for (const [code, count] of Object.entries(failures)) merged[code] = (merged[code] ?? 0) + count;
  return merged;
}
