/**
 * Item 4, changes beside sends: the acknowledged message changes (edits and reactions,
 * docs/protocol.md "Messages change") per second one node takes, and their ack latency. Ours
 * only: Centrifugo and raw uWS have no edit or reaction.
 *
 * The ingest senders first seed messages in rooms of their own (`chg-*`), each generator's
 * senders as their token's user, so that the same user may edit them; then they edit and react
 * to the first `targetsPerGenerator` of them (load/changes.ts picks target, kind and emoji in
 * turn): an unmeasured warm-up, the closed-loop maximum (each sender keeps `inFlightPerSender`
 * changes awaiting their ack, like the sends' maximum), then ack latency open loop at the fixed
 * rate and at 50 % of that maximum, lowest first. Every acknowledged send and change is kept for
 * the read-back (lib/receipts.ts, lib/change-receipts.ts).
 */
import type { ChangeReceipt, ChangeTarget, Receipt, SendPlan, SendResult } from "../load/protocol.js";
import type { Generator } from "../load/pool.js";
import { FigureRefused, CHECKS, requireSendsAcknowledged } from "../lib/integrity.js";
import { loadAverage, type MeasuredServer } from "../lib/servers.js";
import { summarize } from "../lib/stats.js";
import {
  describeRate,
  keepReceipts,
  mergeFailures,
  roomsFor,
  withRunQueueWait,
  type IngestClients,
  type IngestSettings,
  type LoadPoint,
  type OfferedRate,
} from "./ingest.js";
import { cpuSnapshot, sumCpu } from "./measure.js";

export interface ChangesSettings {
  /** Closed loop, one send in flight per sender: the messages to change. */
  seedDurationInMs: number;
  /** Each generator's changes go to the first this many of its seeded messages. */
  targetsPerGenerator: number;
  warmupInMs: number;
  inFlightPerSender: number;
  maxDurationInMs: number;
  latencyDurationInMs: number;
  /** The fixed offered rate ack latency is measured at (changes/s). */
  fixedRatePerSecond: number;
}

export interface ChangesResult {
  /** Messages seeded (acknowledged sends), and how many of them were changed. */
  seeded: number;
  targets: number;
  maxAckedPerSecond: number;
  nodeCpuPerChangeInMicros: number;
  nodeCpuUtilisation: number;
  redisCpuUtilisation: number;
  maxFailures: Record<string, number>;
  /** Ack latency open loop, lowest offered rate first. */
  points: LoadPoint[];
  /** Acknowledged changes in all windows (warm-up included), and how many of them were read back from Cassandra. */
  acknowledged: number;
  storedReadBack: number;
}

export const CHANGE_ROOM_PREFIX = "chg";

/** Every result's change receipts appended to `into`; returns the results. */
function keepChangeReceipts(results: readonly SendResult[], into: ChangeReceipt[]): readonly SendResult[] {
  for (const result of results) for (const receipt of result.changeReceipts ?? []) into.push(receipt);
  return results;
}

/**
 * Seeds, warms up, measures. `users[g]` is generator g's senders' user (their token's); the
 * seeded sends' receipts are appended to `sends`, the changes' to `changes`.
 */
export async function measureChanges(
  node: MeasuredServer,
  redisPid: number,
  generators: readonly Generator[],
  clients: IngestClients,
  settings: IngestSettings,
  changesSettings: ChangesSettings,
  users: readonly string[],
  log: (line: string) => void,
  kept: { sends: Receipt[]; changes: ChangeReceipt[] },
): Promise<ChangesResult> {
  const who = "changes";
  const senders = (g: number) => ({ from: clients.firsts[g]!, to: clients.firsts[g]! + settings.sendersPerGenerator });
  const seeded = await Promise.all(
    generators.map((generator, g) =>
      generator.send({
        ...senders(g),
        rooms: roomsFor(CHANGE_ROOM_PREFIX, g, settings),
        textBytes: settings.textBytes,
        inFlightPerSender: 1,
        durationInMs: changesSettings.seedDurationInMs,
        recordAckLatency: false,
        recordReceipts: true,
      }),
    ),
  );
  requireSendsAcknowledged(`${who}: seeding messages`, keepReceipts(seeded, kept.sends));
  const targets: ChangeTarget[][] = seeded.map((result) =>
    (result.receipts ?? []).slice(0, changesSettings.targetsPerGenerator).map(({ room, id }) => ({ room, id })),
  );
  if (targets.some((list) => list.length === 0)) throw new FigureRefused(CHECKS.changes, who, "a generator seeded no message to change");
  const plan = (g: number, window: Pick<SendPlan, "durationInMs" | "inFlightPerSender" | "ratePerSecond" | "recordAckLatency">) =>
    generators[g]!.send({
      ...senders(g),
      rooms: [],
      textBytes: settings.textBytes,
      recordReceipts: true,
      changes: { targets: targets[g]!, by: users[g]! },
      ...window,
    });
  const all = <T>(each: (g: number) => Promise<T>) => Promise.all(generators.map((_, g) => each(g)));

  requireSendsAcknowledged(
    `${who} warm-up`,
    keepChangeReceipts(
      await all((g) => plan(g, { inFlightPerSender: 1, durationInMs: changesSettings.warmupInMs, recordAckLatency: false })),
      kept.changes,
    ),
    "changes",
  );
  const finish = await cpuSnapshot([node], redisPid);
  const closed = await all((g) =>
    plan(g, {
      inFlightPerSender: changesSettings.inFlightPerSender,
      durationInMs: changesSettings.maxDurationInMs,
      recordAckLatency: false,
    }),
  );
  const window = await finish();
  requireSendsAcknowledged(`${who} maximum (closed loop)`, keepChangeReceipts(closed, kept.changes), "changes");
  const acked = closed.reduce((sum, result) => sum + result.acked, 0);
  const maxAckedPerSecond = (acked * 1000) / Math.max(...closed.map((result) => result.elapsedInMs));
  const nodeCpu = sumCpu(window, { withRedis: false });
  const result: ChangesResult = {
    seeded: seeded.reduce((sum, r) => sum + r.acked, 0),
    targets: targets.reduce((sum, list) => sum + list.length, 0),
    maxAckedPerSecond,
    nodeCpuPerChangeInMicros: nodeCpu / Math.max(1, acked),
    nodeCpuUtilisation: nodeCpu / 1000 / window.wallInMs,
    redisCpuUtilisation: (window.redisCpuInMicros ?? 0) / 1000 / window.wallInMs,
    maxFailures: mergeFailures(closed.map((r) => r.failures)),
    points: [],
    acknowledged: 0,
    storedReadBack: 0,
  };
  log(
    `  ${who} max: ${maxAckedPerSecond.toFixed(0)} acked changes/s (edits and reactions to ${result.targets} of ${result.seeded} seeded messages; server CPU ${(result.nodeCpuUtilisation * 100).toFixed(0)} %, redis ${(result.redisCpuUtilisation * 100).toFixed(0)} %)`,
  );
  const rates: OfferedRate[] = [
    { basis: "fixed" as const, offeredPerSecond: changesSettings.fixedRatePerSecond },
    { basis: "own maximum" as const, offeredPerSecond: maxAckedPerSecond * 0.5 },
  ].sort((a, b) => a.offeredPerSecond - b.offeredPerSecond);
  for (const { basis, offeredPerSecond } of rates) {
    const loadFraction = offeredPerSecond / maxAckedPerSecond;
    const at = describeRate({ basis, loadFraction, offeredPerSecond });
    const { result: results, waitShares } = await withRunQueueWait([node.runQueueWaitInMs ?? node.pid, redisPid], () =>
      all((g) =>
        plan(g, {
          ratePerSecond: offeredPerSecond / generators.length,
          durationInMs: changesSettings.latencyDurationInMs,
          recordAckLatency: true,
        }),
      ),
    );
    // The latencies are those of acknowledged changes only: a failed one would be left out of p99.
    requireSendsAcknowledged(`${who} latency at ${at}`, keepChangeReceipts(results, kept.changes), "changes");
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
    result.points.push(point);
    log(
      `  ${who} at ${at}: ack p50 ${point.ack.p50InMs.toFixed(2)} ms, p99 ${point.ack.p99InMs.toFixed(2)} ms, p99.9 ${point.ack.p999InMs.toFixed(2)} ms; server waited for a CPU ${(point.nodeRunQueueWaitShare * 100).toFixed(0)} % of the time, Redis ${(point.redisRunQueueWaitShare * 100).toFixed(0)} %, load average ${point.loadAverage}`,
    );
  }
  result.acknowledged = kept.changes.length;
  return result;
}
