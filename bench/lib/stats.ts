/** Percentiles and formatting shared by the scenarios and the report. */

/** The q-quantile (0..1) by nearest rank; NaN for no samples. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LatencySummary {
  samples: number;
  p50InMs: number;
  p99InMs: number;
  p999InMs: number;
  maxInMs: number;
}

export function summarize(latenciesInMs: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(latenciesInMs).sort();
  const values = Array.from(sorted);
  return {
    samples: values.length,
    p50InMs: percentile(values, 0.5),
    p99InMs: percentile(values, 0.99),
    p999InMs: percentile(values, 0.999),
    maxInMs: values[values.length - 1] ?? Number.NaN,
  };
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
