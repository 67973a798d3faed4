/**
 * Samples the cluster's /metrics while a suite runs, so the report shows the server's side of
 * the run: memory (a leak is a rising RSS), event-loop lag, connections, stream backlog (the
 * flusher falling behind) and the server-measured ack latency.
 *
 * Each process is scraped on its own /metrics URL (scripts/load.ts says where from); the
 * gateway does not serve /metrics (docs/protocol.md), so no target is behind it.
 */
import { bucketsOf, parsePrometheusText, sumOf, type PromSample } from "./prom.js";

export interface ScrapeTarget {
  url: string;
}

export interface ServerSample {
  /** ms since the epoch. */
  at: number;
  /** "<component>/<node>" from the registry's default labels, or the URL when they are missing. */
  source: string;
  rssBytes: number | undefined;
  eventLoopLagSeconds: number | undefined;
  connections: number | undefined;
  streamBacklog: number | undefined;
  messagesIn: number | undefined;
  errors: number | undefined;
  ackBuckets: Map<number, number>;
}

const SCRAPE_TIMEOUT_IN_MS = 3000;

export class MetricsSampler {
  readonly samples: ServerSample[] = [];
  /** Failed scrapes by URL and reason, for the report. */
  readonly failures = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly targets: readonly ScrapeTarget[],
    private readonly intervalInMs: number,
  ) {}

  start(): void {
    this.inFlight = this.sampleOnce();
    this.timer = setInterval(() => {
      this.inFlight = this.inFlight.then(() => this.sampleOnce());
    }, this.intervalInMs);
  }

  /** Stops after one last sample, so the report's end is the state after the run. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
    await this.sampleOnce();
  }

  private async sampleOnce(): Promise<void> {
    const at = Date.now();
    await Promise.all(
      this.targets.map(async (target) => {
        const samples = await this.scrape(target.url);
        if (samples) this.samples.push(toServerSample(at, target.url, samples));
      }),
    );
  }

  private async scrape(url: string): Promise<PromSample[] | undefined> {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_IN_MS) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return parsePrometheusText(await response.text());
    } catch (error) {
      const key = `${url}: ${error instanceof Error ? error.message : String(error)}`;
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      return undefined;
    }
  }
}

function toServerSample(at: number, url: string, samples: PromSample[]): ServerSample {
  const identity = samples.find((sample) => sample.name === "process_resident_memory_bytes")?.labels;
  const source = identity?.["node"] ? `${identity["component"] ?? "process"}/${identity["node"]}` : url;
  return {
    at,
    source,
    rssBytes: sumOf(samples, "process_resident_memory_bytes"),
    eventLoopLagSeconds: sumOf(samples, "nodejs_eventloop_lag_seconds"),
    connections: sumOf(samples, "chat_connections"),
    streamBacklog: sumOf(samples, "chat_stream_backlog"),
    messagesIn: sumOf(samples, "chat_messages_in_total"),
    errors: sumOf(samples, "chat_errors_total"),
    ackBuckets: bucketsOf(samples, "chat_ack_latency_seconds"),
  };
}
