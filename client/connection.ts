/**
 * The session's lifecycle: get a token, open the transport, and when the session ends or the
 * handshake is refused, come back after a jittered exponential backoff that honours the
 * server's hints. The token provider is called again when the server refuses an expired
 * token, when the server ended the session (it does when the token expires), and ahead of the
 * token's own expiry (then the session is reopened with the fresh token right away).
 */
import { Backoff, type BackoffOptions } from "./backoff.js";
import { ChatError } from "./errors.js";
import { tokenExpiry, type TokenProvider } from "./token.js";
import type { Transport } from "./transport.js";

export type ConnectionState = "idle" | "connecting" | "connected" | "disconnected" | "closed";

export interface ConnectionOptions {
  transport: Transport;
  token: string | TokenProvider;
  backoff?: BackoffOptions;
  /** How long before the token's `exp` a fresh one is fetched and the session reopened, ms. Default 10 000. */
  refreshLeadInMs?: number;
  onState(state: ConnectionState): void;
  /** The session is up. */
  onOpen(): void;
  /** The session that was up is down. */
  onDown(): void;
  onEvent(name: string, payload: unknown): void;
  /** A refused handshake or a failing token provider (the connection keeps trying unless it says otherwise). */
  onError(error: ChatError): void;
}

export class Connection {
  state: ConnectionState = "idle";
  /** Sessions opened so far: tells one session from the next. */
  sessions = 0;
  private readonly backoff: Backoff;
  private token: string | undefined;
  private tokenStale = false;
  /** Refusals in a row that a fresh token did not cure (AUTH_INVALID, AUTH_MISSING). */
  private badTokens = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly waiting = new Set<() => void>();
  /** Counts open attempts, so an attempt overtaken while it awaited its token stops. */
  private attempt = 0;

  constructor(private readonly options: ConnectionOptions) {
    this.backoff = new Backoff(options.backoff);
  }

  start(): void {
    if (this.state === "idle") void this.open();
  }

  close(): void {
    if (this.state === "closed") return;
    const wasUp = this.state === "connected";
    this.clearTimers();
    this.options.transport.close();
    this.setState("closed");
    if (wasUp) this.options.onDown();
    for (const wake of this.waiting) wake();
  }

  /**
   * Emits with an ack. Without a session it waits up to `timeoutInMs` for one, or, with
   * `waitForSession` false (the outbox and the room sync, which start over on every session
   * anyway), fails at once with DISCONNECTED.
   */
  async request(event: string, payload: unknown, timeoutInMs: number, waitForSession = true): Promise<unknown> {
    const started = Date.now();
    if (this.state !== "connected") {
      if (!waitForSession) throw new ChatError("DISCONNECTED", "not connected");
      await this.whenConnected(timeoutInMs);
    }
    return this.options.transport.request(event, payload, Math.max(1, timeoutInMs - (Date.now() - started)));
  }

  notify(event: string, payload: unknown): void {
    if (this.state === "connected") this.options.transport.notify(event, payload);
  }

  /** Ends the session and opens a new one now (a draining node, a fresh token). */
  reopen(): void {
    if (this.state === "closed") return;
    this.attempt += 1;
    this.clearTimers();
    this.options.transport.close();
    this.down();
    void this.open();
  }

  private whenConnected(timeoutInMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        if (this.state === "connected") resolve();
        else reject(new ChatError("CLOSED", "the client was closed"));
      };
      const timer = setTimeout(() => {
        this.waiting.delete(done);
        reject(new ChatError("DISCONNECTED", `not connected within ${timeoutInMs} ms`));
      }, timeoutInMs);
      this.waiting.add(done);
    });
  }

  private async open(): Promise<void> {
    this.setState("connecting");
    const attempt = ++this.attempt;
    let token: string;
    try {
      token = await this.currentToken();
    } catch (error) {
      this.options.onError(new ChatError("UNAUTHORIZED", `the token provider failed: ${(error as Error)?.message ?? String(error)}`));
      return this.retry();
    }
    if (this.state !== "connecting" || attempt !== this.attempt) return;
    // A transport that reports for a session already replaced or closed is not listened to.
    const current = () => attempt === this.attempt && this.state !== "closed";
    this.options.transport.open(token, {
      open: () => {
        if (!current()) return;
        this.backoff.reset();
        this.badTokens = 0;
        this.sessions += 1;
        this.setState("connected");
        this.scheduleRefresh(token);
        for (const wake of this.waiting) wake();
        this.options.onOpen();
      },
      close: (byServer) => {
        if (!current()) return;
        // The server ends a session when its token expires: ask for a fresh one first.
        if (byServer) this.tokenStale = true;
        this.down();
        this.retry();
      },
      refused: (error) => current() && this.refused(error),
      event: (name, payload) => current() && this.options.onEvent(name, payload),
    });
  }

  private refused(error: ChatError): void {
    this.options.onError(error);
    if (error.code === "UNAUTHORIZED") {
      this.tokenStale = true;
      if (error.reason !== "AUTH_EXPIRED" && ++this.badTokens > 1) return this.close();
    }
    this.retry(error.retryAfterMs);
  }

  private down(): void {
    const wasUp = this.state === "connected";
    clearTimeout(this.refreshTimer);
    this.setState("disconnected");
    if (wasUp) this.options.onDown();
  }

  private retry(retryAfterMs?: number): void {
    if (this.state === "closed") return;
    this.setState("disconnected");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.open(), this.backoff.next(retryAfterMs));
  }

  private async currentToken(): Promise<string> {
    const source = this.options.token;
    if (typeof source === "string") return source;
    if (this.token === undefined || this.tokenStale) {
      this.token = await source();
      this.tokenStale = false;
    }
    return this.token;
  }

  /** Ahead of the token's expiry: a fresh token, and the session reopened with it. */
  private scheduleRefresh(token: string): void {
    const expiresAt = tokenExpiry(token);
    if (expiresAt === undefined || typeof this.options.token === "string") return;
    const lead = this.options.refreshLeadInMs ?? 10_000;
    const remaining = expiresAt - Date.now();
    // A token shorter-lived than the lead is refreshed at half its remaining life.
    const delay = Math.max(0, remaining > 2 * lead ? remaining - lead : remaining / 2);
    // setTimeout fires at once for delays above 2^31 - 1 ms (24.8 days): such tokens wait for the next session.
    if (delay > 2 ** 31 - 1) return;
    // The fresh token is fetched before the session closes, so the handover is one handshake long.
    this.refreshTimer = setTimeout(() => void this.refreshTokenAhead(), delay);
  }

  /** Fetches the next token before the current one expires; never rejects (a failure is reported). */
  private async refreshTokenAhead(): Promise<void> {
    const source = this.options.token as TokenProvider;
    try {
      this.token = await source();
    } catch (error) {
      // The server ends the session at expiry; the reconnect asks the provider again.
      this.tokenStale = true;
      this.options.onError(new ChatError("UNAUTHORIZED", `the token provider failed: ${(error as Error)?.message ?? String(error)}`));
      return;
    }
    if (this.state === "connected") this.reopen();
  }

  private clearTimers(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.refreshTimer);
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.options.onState(state);
  }
}
