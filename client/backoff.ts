/**
 * Jittered exponential backoff. Without a hint, the n-th delay is drawn from
 * [ceiling/2, ceiling] with ceiling = min(maxDelayInMs, initialDelayInMs * 2^n) ("equal
 * jitter": spread out, never zero, so a crowd of clients that lost the same node does not
 * come back in one burst). A server hint (`retryAfterMs`, HTTP `Retry-After`) is a floor:
 * the delay is never shorter than it, plus up to 10 % so the told clients do not all retry on
 * the same millisecond either.
 */
export interface BackoffOptions {
  /** Ceiling of the first delay, ms. Default 500. */
  initialDelayInMs?: number;
  /** Largest ceiling, ms. Default 30 000. */
  maxDelayInMs?: number;
  /** A number in [0, 1): injected by tests. Default Math.random. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly initialDelayInMs: number;
  private readonly maxDelayInMs: number;
  private readonly random: () => number;

  constructor({ initialDelayInMs = 500, maxDelayInMs = 30_000, random = Math.random }: BackoffOptions = {}) {
    this.initialDelayInMs = initialDelayInMs;
    this.maxDelayInMs = maxDelayInMs;
    this.random = random;
  }

  /** The delay before the next attempt; each call without a reset grows the ceiling. */
  next(retryAfterMs?: number): number {
    const ceiling = Math.min(this.maxDelayInMs, this.initialDelayInMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    const jittered = ceiling / 2 + (this.random() * ceiling) / 2;
    if (retryAfterMs === undefined || !(retryAfterMs > 0)) return Math.round(jittered);
    return Math.round(Math.max(jittered, retryAfterMs + this.random() * retryAfterMs * 0.1));
  }

  /** After a success: the next failure starts from the first delay again. */
  reset(): void {
    this.attempt = 0;
  }
}

/** HTTP `Retry-After` (delta-seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
