/**
 * The bench reports a figure only from a run that did what was asked of it: every send
 * acknowledged, every delivery exactly once to the right client, nothing arriving after the
 * CPU window closed, every idle connection still open, every buffered row read back from
 * Cassandra. A broken server would otherwise lower a cost (duplicates and misrouted deliveries
 * divide the same CPU time by more) or raise a rate (dropped rows "flush" instantly). Each check
 * throws FigureRefused, naming the check and where it failed; bench/run.ts stops on it.
 */
import type { DeliveryTally, SendResult } from "../load/protocol.js";

export const CHECKS = {
  sends: "every send acknowledged",
  deliveries: "every delivery exactly once",
  afterWindow: "no delivery after the CPU window",
  latencySamples: "one latency sample per delivery",
  connections: "every connection still open",
  rows: "every row read back from Cassandra",
  deadLetter: "nothing dead-lettered",
  stored: "every acknowledged send stored once",
  changes: "every change acknowledged",
  changesStored: "every acknowledged change stored once",
} as const;

export type CheckName = (typeof CHECKS)[keyof typeof CHECKS];

export class FigureRefused extends Error {
  constructor(
    readonly check: CheckName,
    readonly where: string,
    readonly detail: string,
  ) {
    super(`check "${check}" failed in ${where}: ${detail}`);
    this.name = "FigureRefused";
  }
}

/**
 * Every send of `results` acknowledged `ok` (no error code, no TIMEOUT, CLOSED or DUPLICATE);
 * `what` "changes" for the edits and reactions of the changes window.
 */
export function requireSendsAcknowledged(
  where: string,
  results: SendResult | readonly SendResult[],
  what: "sends" | "changes" = "sends",
): void {
  const checkName = what === "sends" ? CHECKS.sends : CHECKS.changes;
  const all = Array.isArray(results) ? (results as readonly SendResult[]) : [results as SendResult];
  const sent = all.reduce((sum, r) => sum + r.sent, 0);
  const acked = all.reduce((sum, r) => sum + r.acked, 0);
  const failures: Record<string, number> = {};
  for (const r of all) for (const [code, count] of Object.entries(r.failures)) failures[code] = (failures[code] ?? 0) + count;
  if (sent === 0) throw new FigureRefused(checkName, where, "nothing was sent");
  if (acked !== sent) {
    const codes =
      Object.entries(failures)
        .map(([code, count]) => `${count} ${code}`)
        .join(", ") || "no failure code";
    throw new FigureRefused(checkName, where, `${acked} of ${sent} ${what} acknowledged (${codes})`);
  }
}

function describe(tally: DeliveryTally, expected: number): string {
  return `${tally.counted} of ${expected} expected deliveries counted, ${tally.duplicated} duplicated, ${tally.misrouted} misrouted, ${tally.malformed} malformed`;
}

/** Exactly `expected` deliveries, and not one duplicated, misrouted or unreadable. */
export function requireExactDeliveries(where: string, expected: number, tally: DeliveryTally): void {
  if (expected <= 0) throw new FigureRefused(CHECKS.deliveries, where, `no delivery was expected (${expected}): nothing measured`);
  if (tally.counted !== expected || tally.duplicated > 0 || tally.misrouted > 0 || tally.malformed > 0) {
    throw new FigureRefused(CHECKS.deliveries, where, describe(tally, expected));
  }
}

/** The tally read after the CPU window closed equals the one the window was charged to. */
export function requireNothingAfterWindow(where: string, atClose: DeliveryTally, later: DeliveryTally, expected: number): void {
  if (
    later.counted !== atClose.counted ||
    later.duplicated !== atClose.duplicated ||
    later.misrouted !== atClose.misrouted ||
    later.malformed !== atClose.malformed
  ) {
    throw new FigureRefused(
      CHECKS.afterWindow,
      where,
      `at the window's close ${describe(atClose, expected)}; after it ${describe(later, expected)}`,
    );
  }
}

/** `open` of the generators' clients still connected (none closed by the server). */
export function requireOpenConnections(where: string, tally: DeliveryTally, expectedOpen: number): void {
  if (tally.open !== expectedOpen) throw new FigureRefused(CHECKS.connections, where, `${tally.open} of ${expectedOpen} connections open`);
}
