/** Reading Artillery 2's `--output` JSON: the aggregate and the 10-second periods. */
import { readFileSync } from "node:fs";

export interface Summary {
  min: number;
  max: number;
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface MetricsBlock {
  counters: Record<string, number>;
  summaries: Record<string, Summary>;
  /** Start of the period, ms since the epoch (aggregate: of the run). */
  period: number;
  firstMetricAt: number;
  lastMetricAt: number;
}

export interface ArtilleryResult {
  aggregate: MetricsBlock;
  intermediate: MetricsBlock[];
}

export function readArtilleryJson(file: string): ArtilleryResult {
  const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<ArtilleryResult>;
  if (!parsed.aggregate || !Array.isArray(parsed.intermediate))
    throw new Error(`${file}: not an Artillery 2 --output report (no aggregate/intermediate)`);
  const normalise = (block: Partial<MetricsBlock>): MetricsBlock => ({
    counters: block.counters ?? {},
    summaries: block.summaries ?? {},
    period: Number(block.period ?? block.firstMetricAt ?? 0),
    firstMetricAt: Number(block.firstMetricAt ?? block.period ?? 0),
    lastMetricAt: Number(block.lastMetricAt ?? block.period ?? 0),
  });
  return { aggregate: normalise(parsed.aggregate), intermediate: parsed.intermediate.map(normalise).sort((a, b) => a.period - b.period) };
}

/** Artillery's reporting period: counters per period divided by this are rates. */
export const PERIOD_IN_MS = 10_000;

/** [ms since `origin`, value] per period, NaN where the period lacks the metric. */
export function summarySeries(result: ArtilleryResult, origin: number, metric: string, field: keyof Summary): [number, number][] {
  return result.intermediate.map((block) => [block.period - origin + PERIOD_IN_MS / 2, block.summaries[metric]?.[field] ?? NaN]);
}

/** A counter as a rate per second in each period (0 where it did not move). */
export function rateSeries(result: ArtilleryResult, origin: number, counter: string): [number, number][] {
  return result.intermediate.map((block) => [
    block.period - origin + PERIOD_IN_MS / 2,
    (block.counters[counter] ?? 0) / (PERIOD_IN_MS / 1000),
  ]);
}

/**
 * A latency percentile over a window of whole periods: Artillery keeps no mergeable
 * histogram per period in its JSON, so this gives the worst and the count-weighted mean of
 * the periods' values (the worst is an upper bound of the window's own percentile).
 */
export function windowPercentile(
  blocks: readonly MetricsBlock[],
  metric: string,
  field: "p99" | "p50" = "p99",
): { worst: number; mean: number; count: number } | undefined {
  const present = blocks.map((block) => block.summaries[metric]).filter((s): s is Summary => s !== undefined && s.count > 0);
  if (present.length === 0) return undefined;
  const count = present.reduce((sum, s) => sum + s.count, 0);
  return { worst: Math.max(...present.map((s) => s[field])), mean: present.reduce((sum, s) => sum + s[field] * s.count, 0) / count, count };
}

/** The periods in the first and the last `windowInMs` of traffic (periods where `metric` has values). */
export function firstAndLastWindows(
  result: ArtilleryResult,
  metric: string,
  windowInMs: number,
): { first: MetricsBlock[]; last: MetricsBlock[] } {
  const busy = result.intermediate.filter((block) => (block.summaries[metric]?.count ?? 0) > 0);
  if (busy.length === 0) return { first: [], last: [] };
  const start = busy[0]!.period;
  const end = busy[busy.length - 1]!.period;
  return { first: busy.filter((b) => b.period < start + windowInMs), last: busy.filter((b) => b.period > end - windowInMs) };
}
