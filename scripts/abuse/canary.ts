/**
 * The abuse suite's canary: an honest user sending one message a second throughout, each ack
 * timed. Every answer must be ok and the acknowledged seqs must have no gap.
 */
import type { Socket } from "socket.io-client";

export interface Latencies {
  p50: number;
  p99: number;
  count: number;
}

export class Canary {
  /** Ack latency in ms, and when (performance.now()) the send was asked. */
  private samples: { ms: number; at: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  readonly failures: string[] = [];
  readonly acked: number[] = [];
  constructor(
    private readonly socket: Socket,
    private readonly room: string,
  ) {}
  start(): void {
    this.timer = setInterval(() => {
      const clientId = `canary-${this.sent++}`;
      const asked = performance.now();
      (
        this.socket.timeout(10_000).emitWithAck("send", { room: this.room, clientId, text: "canary" }) as Promise<{
          ok: boolean;
          seq?: number;
          error?: { code: string };
        }>
      ).then(
        (reply) => {
          this.samples.push({ ms: performance.now() - asked, at: asked });
          if (reply.ok) this.acked.push(reply.seq!);
          else this.failures.push(`${clientId}: ${reply.error?.code}`);
        },
        (error: Error) => this.failures.push(`${clientId}: ${error.message}`),
      );
    }, 1000);
  }
  /** The latencies sampled since the last take; `each` is told every sample in the order sent (for the log). */
  take(each?: (ms: number, at: number) => void): Latencies {
    const taken = this.samples.splice(0);
    for (const sample of taken) each?.(sample.ms, sample.at);
    const sorted = taken.map((sample) => sample.ms).sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
    return { p50: at(0.5), p99: at(0.99), count: sorted.length };
  }
  stop(): void {
    clearInterval(this.timer);
  }
}
