/** Percentiles (nearest rank) and the one-line summaries the storm prints. */

export interface Distribution {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
  return { count: sorted.length, p50: rank(50), p95: rank(95), p99: rank(99), max: sorted.at(-1) ?? NaN };
}

export function formatDistribution({ count, p50, p95, p99, max }: Distribution): string {
  const ms = (value: number) => (Number.isNaN(value) ? "-" : `${Math.round(value)} ms`);
  return `p50 ${ms(p50)}, p95 ${ms(p95)}, p99 ${ms(p99)}, max ${ms(max)} (${count} clients)`;
}
