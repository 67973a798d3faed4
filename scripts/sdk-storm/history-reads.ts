/**
 * What the storm's catch-up asked of storage: the nodes' coalescing counters
 * (server/history-metrics.ts) read from each node's /metrics before the fault and once every
 * client caught up. `join { since }` requests against the reads that reached Redis or Cassandra
 * after coalescing (storage/coalescing-history.ts) show what one read per room and window saves.
 */
import { parsePrometheusText, sumOf } from "../../artillery/report/prom.js";

export type HistoryKind = "since" | "latest" | "page";
const KINDS: readonly HistoryKind[] = ["since", "latest", "page"];

export interface HistoryCounts {
  requests: Record<HistoryKind, number>;
  storageReads: Record<HistoryKind, number>;
}

/** The counters summed over the nodes; a node that does not answer fails the run (its reads would be missing). */
export async function readHistoryCounts(metricsUrls: readonly string[]): Promise<HistoryCounts> {
  const texts = await Promise.all(
    metricsUrls.map(async (url) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url} answered ${response.status}`);
      return response.text();
    }),
  );
  const samples = texts.flatMap((text) => parsePrometheusText(text));
  const byKind = (name: string) =>
    Object.fromEntries(KINDS.map((kind) => [kind, sumOf(samples, name, { kind }) ?? 0])) as Record<HistoryKind, number>;
  return { requests: byKind("chat_history_requests_total"), storageReads: byKind("chat_history_storage_reads_total") };
}

/** after − before, per counter and kind. */
export function historyDelta(before: HistoryCounts, after: HistoryCounts): HistoryCounts {
  const minus = (a: Record<HistoryKind, number>, b: Record<HistoryKind, number>) =>
    Object.fromEntries(KINDS.map((kind) => [kind, a[kind] - b[kind]])) as Record<HistoryKind, number>;
  return { requests: minus(after.requests, before.requests), storageReads: minus(after.storageReads, before.storageReads) };
}

/** One line per kind that had requests: "since: 600 requests → 44 storage reads (2.0 per room)". */
export function formatHistoryDelta(delta: HistoryCounts, rooms: number): string[] {
  return KINDS.filter((kind) => delta.requests[kind] > 0).map(
    (kind) =>
      `${kind}: ${delta.requests[kind]} requests → ${delta.storageReads[kind]} storage reads (${(delta.storageReads[kind] / rooms).toFixed(1)} per room)`,
  );
}
