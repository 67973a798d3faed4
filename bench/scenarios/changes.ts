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
import type { ChangeReceipt, ChangeTarget, Receipt, SendResult } from "../load/protocol.js";
import type { Generator } from "../load/pool.js";
import { FigureRefused, CHECKS, requireSendsAcknowledged } from "../lib/integrity.js";
import type { MeasuredServer } from "../lib/servers.js";
import { measureAckLatency, measureMaximum, warmUp, type AckedLoad, type LoadPoint, type OfferedRate } from "./acked-load.js";
import { keepReceipts, roomsFor, type IngestClients, type IngestSettings } from "./ingest.js";

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
  const changes: AckedLoad = {
    who,
    what: "changes",
    node,
    redisPid,
    generators,
    send: (g, window) =>
      generators[g]!.send({
        ...senders(g),
        rooms: [],
        textBytes: settings.textBytes,
        recordReceipts: true,
        changes: { targets: targets[g]!, by: users[g]! },
        ...window,
      }),
    keep: (results) => keepChangeReceipts(results, kept.changes),
    log,
  };
  await warmUp(changes, changesSettings.warmupInMs);
  const max = await measureMaximum(changes, changesSettings.inFlightPerSender, changesSettings.maxDurationInMs);
  const result: ChangesResult = {
    seeded: seeded.reduce((sum, r) => sum + r.acked, 0),
    targets: targets.reduce((sum, list) => sum + list.length, 0),
    maxAckedPerSecond: max.maxAckedPerSecond,
    nodeCpuPerChangeInMicros: max.nodeCpuPerAckInMicros,
    nodeCpuUtilisation: max.nodeCpuUtilisation,
    redisCpuUtilisation: max.redisCpuUtilisation,
    maxFailures: max.maxFailures,
    points: [],
    acknowledged: 0,
    storedReadBack: 0,
  };
  log(
    `  ${who} max: ${max.maxAckedPerSecond.toFixed(0)} acked changes/s (edits and reactions to ${result.targets} of ${result.seeded} seeded messages; server CPU ${(result.nodeCpuUtilisation * 100).toFixed(0)} %, redis ${(result.redisCpuUtilisation * 100).toFixed(0)} %)`,
  );
  const rates: OfferedRate[] = [
    { basis: "fixed" as const, offeredPerSecond: changesSettings.fixedRatePerSecond },
    { basis: "own maximum" as const, offeredPerSecond: max.maxAckedPerSecond * 0.5 },
  ].sort((a, b) => a.offeredPerSecond - b.offeredPerSecond);
  for (const rate of rates)
    result.points.push(await measureAckLatency(changes, rate, max.maxAckedPerSecond, changesSettings.latencyDurationInMs));
  result.acknowledged = kept.changes.length;
  return result;
}
