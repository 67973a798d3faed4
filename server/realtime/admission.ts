/**
 * Admission at the node: how many engine.io connections a node holds, and how fast it takes new
 * ones (docs/protocol.md "Overload and backoff"). The gateway queues newcomers first (its per-node
 * maxconn is at or below CHAT_MAX_CONNECTIONS); this is the node's own guard for connections
 * that reach it anyway (a gateway misconfigured, a reconnect storm of many sessions at once).
 */

export interface AdmissionSettings {
  /** Connections (engine.io sessions, authenticated or not) per node; 0: no limit. */
  maxConnections: number;
  /** New connections per second per node, a token bucket with a burst of one second's worth; 0: no limit. */
  connectRatePerSecond: number;
  /** Retry-After of a refusal for max_connections (a slot frees when a user leaves; a rate refusal says when its next token comes). */
  retryAfterSeconds: number;
}

/**
 * The defaults, from bench/results.json (`npm run capacity` prints the derivation; a unit test
 * fails when they drift from it): a node held 19 939 idle connections (capped by the open-files
 * limit), so 19 939 / 1.5 headroom, rounded down to a thousand; it accepted them at 2 144 new
 * connections/s with the generator on the same 2 cores, and half of that is left to handshakes
 * so the users already in keep working through a reconnect storm, rounded down to a hundred.
 */
export const DEFAULT_MAX_CONNECTIONS = 13_000;
export const DEFAULT_CONNECT_RATE_PER_SECOND = 1_000;
export const DEFAULT_CONNECT_RETRY_AFTER_SECONDS = 5;

export type RefusalReason = "max_connections" | "connect_rate";

export type AdmissionDecision = { admitted: true } | { admitted: false; reason: RefusalReason; retryAfterSeconds: number };

/** A token bucket: `ratePerSecond` tokens a second, at most `burst` held. */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.refilledAt = now();
  }

  /** Takes a token, or says in how many ms the next one comes. */
  take(): { taken: true } | { taken: false; waitInMs: number } {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.ratePerSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { taken: true };
    }
    return { taken: false, waitInMs: ((1 - this.tokens) * 1000) / this.ratePerSecond };
  }
}

export class ConnectionAdmission {
  private readonly bucket: TokenBucket | undefined;

  constructor(
    private readonly settings: AdmissionSettings,
    /** Connections the node holds now, including handshakes admitted but not yet sessions. */
    private readonly openConnections: () => number,
    now?: () => number,
  ) {
    this.bucket =
      settings.connectRatePerSecond > 0 ? new TokenBucket(settings.connectRatePerSecond, settings.connectRatePerSecond, now) : undefined;
  }

  /** Decides one new connection; an admitted one has taken its token. */
  admit(): AdmissionDecision {
    // The slot first: a node that is full must not burn rate tokens on handshakes it refuses.
    if (this.settings.maxConnections > 0 && this.openConnections() >= this.settings.maxConnections) {
      return { admitted: false, reason: "max_connections", retryAfterSeconds: this.settings.retryAfterSeconds };
    }
    const token = this.bucket?.take() ?? { taken: true };
    if (!token.taken) return { admitted: false, reason: "connect_rate", retryAfterSeconds: Math.max(1, Math.ceil(token.waitInMs / 1000)) };
    return { admitted: true };
  }
}
