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
import { loadAverage, type MeasuredServer } from "../lib/servers.js";
import { summarize, type LatencySummary } from "../lib/stats.js";
import {
  measureAckLatency,
  measureMaximum,
  warmUp,
  withRunQueueWait,
  type AckedLoad,
  type LoadPoint,
  type OfferedRate,
} from "./acked-load.js";
import type { RedisPids } from "./measure.js";

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

export interface IngestOptions {
  /** Names the stack in log lines and refusals. */
  who?: string;
  /** Names its rooms (channels). */
  roomPrefix?: string;
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

/**
 * The sends of `clients` to `node` as an acked load (scenarios/acked-load.ts). `who` names the
 * stack in log lines and refusals; `roomPrefix` names its rooms (channels). With `receipts`,
 * every acknowledged send's receipt is appended to it, to be read back from Cassandra
 * (lib/receipts.ts) once the measurement is over.
 */
export function ingestLoad(
  node: MeasuredServer,
  redisPid: RedisPids,
  generators: readonly Generator[],
  clients: IngestClients,
  settings: IngestSettings,
  log: (line: string) => void,
  options: IngestOptions = {},
): AckedLoad {
  const plan = planOf(clients, settings, options);
  return {
    who: options.who ?? "ingest",
    what: "sends",
    node,
    redisPid,
    generators,
    send: (g, window) => generators[g]!.send({ ...plan(g), ...window }),
    keep: (results) => keepReceipts(results, options.receipts),
    log,
  };
}

/** The closed-loop maximum of `sends`, then ack latency open loop at each of `rates(maximum)`. */
export async function measureIngest(sends: AckedLoad, settings: IngestSettings, rates = ourRates(settings)): Promise<IngestResult> {
  await warmUp(sends, settings.warmupInMs);
  const max = await measureMaximum(sends, settings.inFlightPerSender, settings.maxDurationInMs);
  const result: IngestResult = {
    maxAckedPerSecond: max.maxAckedPerSecond,
    nodeCpuPerSendInMicros: max.nodeCpuPerAckInMicros,
    nodeCpuUtilisation: max.nodeCpuUtilisation,
    redisCpuUtilisation: max.redisCpuUtilisation,
    maxFailures: max.maxFailures,
    points: [],
  };
  sends.log(
    `  ${sends.who} max: ${max.maxAckedPerSecond.toFixed(0)} acked sends/s (server CPU ${(result.nodeCpuUtilisation * 100).toFixed(0)} %, redis ${(result.redisCpuUtilisation * 100).toFixed(0)} %)`,
  );
  for (const rate of rates(max.maxAckedPerSecond))
    result.points.push(await measureAckLatency(sends, rate, max.maxAckedPerSecond, settings.latencyDurationInMs));
  return result;
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
