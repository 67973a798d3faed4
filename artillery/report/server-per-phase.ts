/**
 * The server's own ack latency per Artillery phase, from the nodes' chat_ack_latency_seconds
 * histograms: what the client-side figures cannot separate from the generator's own delay (a
 * generator that lags adds its lag to every ack it times). Each phase's window runs from its
 * start to the next phase's start (the last one to the last sample); the nodes' bucket counts
 * are summed, and the quantile is interpolated within the buckets (prom.ts), so it is as fine as
 * the histogram's bounds (server/metrics.ts).
 */
import type { PhaseStart } from "./phases.js";
import { quantileBetween } from "./prom.js";
import type { ServerSample } from "./sampler.js";

export interface ServerPhaseAck {
  name: string;
  /** Sends the nodes acknowledged in the window. */
  acks: number;
  p99Ms: number | undefined;
}

/** Per phase, the nodes' ack p99 over the phase's window; phases without two samples around them get no figure. */
export function serverAckPerPhase(samples: readonly ServerSample[], starts: readonly PhaseStart[]): ServerPhaseAck[] {
  const withAcks = samples.filter((sample) => sample.ackBuckets.size > 0);
  const lastAt = Math.max(...withAcks.map((sample) => sample.at));
  return starts.map((phase, i) => {
    const end = starts[i + 1]?.startedAt ?? lastAt;
    const before = bucketsAt(withAcks, phase.startedAt);
    const after = bucketsAt(withAcks, end);
    const p99 = quantileBetween(before, after, 0.99);
    return { name: phase.name, acks: countOf(after) - countOf(before), p99Ms: p99 === undefined ? undefined : p99 * 1000 };
  });
}

/** Each source's last sample at or before `at` (a source with none yet is absent). */
function latestPerSource(samples: readonly ServerSample[], at: number): ServerSample[] {
  const latest = new Map<string, ServerSample>();
  for (const sample of samples) {
    if (sample.at > at) continue;
    const seen = latest.get(sample.source);
    if (!seen || seen.at < sample.at) latest.set(sample.source, sample);
  }
  return [...latest.values()];
}

/** Every node's cumulative bucket counts as of `at`: each node's last sample at or before it, summed (none yet: zero). */
function bucketsAt(samples: readonly ServerSample[], at: number): Map<number, number> {
  const sum = new Map<number, number>();
  // Bounds present in any sample, so a node with no sample yet counts as zero in each of them.
  for (const sample of samples) for (const le of sample.ackBuckets.keys()) sum.set(le, 0);
  for (const sample of latestPerSource(samples, at)) for (const [le, count] of sample.ackBuckets) sum.set(le, (sum.get(le) ?? 0) + count);
  return sum;
}

function countOf(buckets: Map<number, number>): number {
  return buckets.get(Infinity) ?? 0;
}

/**
 * Sends the nodes acknowledged between two moments (chat_messages_in_total, duplicates
 * excluded), each node counted from its last sample at or before each moment: the count of a
 * run whose Artillery results are missing (stopped by a signal before it wrote them).
 * Undefined when no node exports the counter.
 */
export function nodeSendsBetween(samples: readonly ServerSample[], from: number, to: number): number | undefined {
  const counted = samples.filter((sample) => sample.messagesIn !== undefined);
  if (counted.length === 0) return undefined;
  const totalAt = (at: number) => latestPerSource(counted, at).reduce((sum, sample) => sum + sample.messagesIn!, 0);
  return totalAt(to) - totalAt(from);
}

/**
 * The spike's 2× check on the nodes' own ack p99 (every admitted user, incumbents and
 * newcomers alike: the nodes cannot tell them apart), as a line beside the client-side one.
 */
export function serverCheckLine(phases: readonly ServerPhaseAck[], baselinePhase: string, splitPhase: string): string {
  const p99Of = (name: string) => phases.find((phase) => phase.name === name)?.p99Ms;
  const baseline = p99Of(baselinePhase);
  const split = p99Of(splitPhase);
  const head = `server side, the nodes' own ack p99 (every admitted user) during "${splitPhase}" ≤ 2 × "${baselinePhase}"`;
  if (baseline === undefined || split === undefined) return `${head}: not measured (no ack counted by the nodes in one of the phases)`;
  const verdict = split <= 2 * baseline ? "**met**" : "**missed**";
  return `${head}: ${verdict} (${split.toFixed(1)} ms vs 2 × ${baseline.toFixed(1)} = ${(2 * baseline).toFixed(1)} ms)`;
}
