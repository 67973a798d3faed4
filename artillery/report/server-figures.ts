/** Figures from the /metrics samples of a run: per process, what drifts and what peaks. */
import { quantileBetween } from "./prom.js";
import type { ServerSample } from "./sampler.js";

export interface ServerFigures {
  source: string;
  samples: number;
  rssStartMb: number | undefined;
  rssEndMb: number | undefined;
  rssMaxMb: number | undefined;
  /** Least-squares slope of RSS over the whole run and over the steady window (the last phase, drain excluded), MB per minute. */
  rssSlopeMbPerMinute: number | undefined;
  rssSlopeSteadyMbPerMinute: number | undefined;
  eventLoopLagMeanMs: number | undefined;
  eventLoopLagMaxMs: number | undefined;
  connectionsMax: number | undefined;
  streamBacklogMax: number | undefined;
  streamBacklogEnd: number | undefined;
  messagesIn: number | undefined;
  errors: number | undefined;
  ackP99Ms: number | undefined;
}

export function bySource(samples: readonly ServerSample[]): Map<string, ServerSample[]> {
  const groups = new Map<string, ServerSample[]>();
  for (const sample of samples) groups.set(sample.source, [...(groups.get(sample.source) ?? []), sample]);
  for (const group of groups.values()) group.sort((a, b) => a.at - b.at);
  return groups;
}

/** `steady`: [from, to] in ms since the epoch; without it, the second half of the samples. */
export function serverFigures(source: string, samples: readonly ServerSample[], steady?: [number, number]): ServerFigures {
  const mb = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 2 ** 20);
  const rss = samples.filter((s) => s.rssBytes !== undefined).map((s) => [s.at / 60_000, s.rssBytes! / 2 ** 20] as [number, number]);
  const rssSteady = steady
    ? rss.filter(([minute]) => minute * 60_000 >= steady[0] && minute * 60_000 <= steady[1])
    : rss.slice(Math.floor(rss.length / 2));
  const lag = values(samples, (s) => s.eventLoopLagSeconds).map((v) => v * 1000);
  const first = samples[0];
  const last = samples[samples.length - 1];
  const delta = (pick: (s: ServerSample) => number | undefined) => {
    const a = first && pick(first);
    const b = last && pick(last);
    return a === undefined || b === undefined ? undefined : b - a;
  };
  const p99 = first && last ? quantileBetween(first.ackBuckets, last.ackBuckets, 0.99) : undefined;
  return {
    source,
    samples: samples.length,
    rssStartMb: mb(first?.rssBytes),
    rssEndMb: mb(last?.rssBytes),
    rssMaxMb: maxOf(rss.map(([, v]) => v)),
    rssSlopeMbPerMinute: slope(rss),
    rssSlopeSteadyMbPerMinute: slope(rssSteady),
    eventLoopLagMeanMs: lag.length ? lag.reduce((a, b) => a + b, 0) / lag.length : undefined,
    eventLoopLagMaxMs: maxOf(lag),
    connectionsMax: maxOf(values(samples, (s) => s.connections)),
    streamBacklogMax: maxOf(values(samples, (s) => s.streamBacklog)),
    streamBacklogEnd: last?.streamBacklog,
    messagesIn: delta((s) => s.messagesIn),
    // chat_errors_total has no sample until its first error: a node without one has had none.
    errors: delta((s) => s.errors ?? (s.messagesIn === undefined ? undefined : 0)),
    ackP99Ms: p99 === undefined ? undefined : p99 * 1000,
  };
}

/** Least-squares slope of y over x; undefined with fewer than 3 points. */
export function slope(points: readonly [number, number][]): number | undefined {
  if (points.length < 3) return undefined;
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  }
  return den === 0 ? undefined : num / den;
}

function values(samples: readonly ServerSample[], pick: (s: ServerSample) => number | undefined): number[] {
  return samples.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
}

function maxOf(list: readonly number[]): number | undefined {
  return list.length ? Math.max(...list) : undefined;
}
