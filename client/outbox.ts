/**
 * The outbox: every send and change stays here, and in its store, until the server
 * acknowledged it. Each room is a lane sent in order, one at a time, so messages keep the
 * order they were written in; a retryable refusal (RATE_LIMITED, UNAVAILABLE, no ack) waits
 * out a jittered backoff that honours `retryAfterMs` and sends the same operation again with
 * the same clientId; after a reconnect (or a reload, from the store) the lanes start over. The
 * server answers a repeat with the first ack (`duplicate: true`): nothing is stored twice.
 */
import { Backoff, sleep, type BackoffOptions } from "./backoff.js";
import { ChatError, errorFromBody } from "./errors.js";
import type { OutboxStore, StoredOperation } from "./outbox-store.js";
import type { Ack, ChangeResult, OutboxOperation, SendResult } from "./protocol.js";

export type OutboxResult = SendResult | ChangeResult;

export interface OutboxOptions {
  store: OutboxStore;
  /** Emits one operation and resolves with its raw ack (rejects with a ChatError). */
  request: (event: string, payload: unknown) => Promise<unknown>;
  backoff?: BackoffOptions;
  /** An operation is settled: acknowledged (`result`) or refused for good (`error`). */
  onSettled?: (operation: OutboxOperation, outcome: { result: OutboxResult } | { error: ChatError }) => void;
  /** The number of pending operations changed. */
  onSize?: (size: number) => void;
  /** The store failed (the operation stays pending in memory). */
  onStoreError?: (error: Error) => void;
}

interface Waiter {
  resolve(result: OutboxResult): void;
  reject(error: ChatError): void;
}

export class Outbox {
  private readonly pending: StoredOperation[] = [];
  private readonly waiters = new Map<string, Waiter>();
  /** Rooms whose lane runs, with the session it runs for (one object per lane, so a lane that ended unmarks only itself). */
  private readonly lanes = new Map<string, { session: number }>();
  private session = 0;
  private connected = false;
  /** Aborts the backoff waits of the session that ended. */
  private sessionEnded = new AbortController();
  private lastOrder = 0;
  readonly loaded: Promise<void>;

  constructor(private readonly options: OutboxOptions) {
    this.loaded = options.store.load().then(
      (stored) => {
        for (const operation of stored) this.track(operation);
      },
      (error: Error) => options.onStoreError?.(error),
    );
  }

  get size(): number {
    return this.pending.length;
  }

  /** A copy of what waits for an ack, in send order. */
  list(): OutboxOperation[] {
    return this.pending.map(({ order: _order, ...operation }) => operation);
  }

  /** Keeps the operation (durably, when the store allows), then sends it when connected. */
  add(operation: OutboxOperation): Promise<OutboxResult> {
    const settled = new Promise<OutboxResult>((resolve, reject) => this.waiters.set(operation.clientId, { resolve, reject }));
    // Fire and forget is fine: a refusal is also reported as `failed`, and a close leaves the
    // operation in the store; so an ignored promise must not become an unhandled rejection.
    settled.catch(() => undefined);
    void this.keep(operation);
    return settled;
  }

  private async keep(operation: OutboxOperation): Promise<void> {
    await this.loaded;
    const stored: StoredOperation = { ...operation, order: Math.max(Date.now(), this.lastOrder + 1) };
    // Ordered before the store answers, so two sends in a row keep their order.
    this.lastOrder = stored.order;
    try {
      await this.options.store.put(stored);
    } catch (error) {
      // Not durable, still pending: a reload could lose it, a reconnect cannot.
      this.options.onStoreError?.(error as Error);
    }
    this.track(stored);
    this.runLane(operation.room);
  }

  /** The session is up: every lane starts (again) from its first pending operation. */
  resume(): void {
    this.connected = true;
    this.session += 1;
    void this.loaded.then(() => {
      for (const room of new Set(this.pending.map((operation) => operation.room))) this.runLane(room);
    });
  }

  /** The session is down: lanes stop at their next step; what is in flight is sent again later. */
  pause(): void {
    this.connected = false;
    this.session += 1;
    this.sessionEnded.abort();
    this.sessionEnded = new AbortController();
  }

  /** The client is closed: pending operations stay in the store, their promises reject. */
  close(): void {
    this.pause();
    for (const waiter of this.waiters.values())
      waiter.reject(new ChatError("CLOSED", "the client was closed; the operation stays in the outbox store"));
    this.waiters.clear();
  }

  private track(operation: StoredOperation): void {
    if (this.pending.some((known) => known.clientId === operation.clientId)) return;
    this.pending.push(operation);
    this.pending.sort((a, b) => a.order - b.order);
    this.lastOrder = Math.max(this.lastOrder, operation.order);
    this.options.onSize?.(this.pending.length);
  }

  private runLane(room: string): void {
    if (!this.connected || this.lanes.get(room)?.session === this.session) return;
    const lane = { session: this.session };
    this.lanes.set(room, lane);
    void this.lane(room, lane, this.sessionEnded.signal).finally(() => this.endLane(room, lane));
  }

  private endLane(room: string, lane: { session: number }): void {
    if (this.lanes.get(room) === lane) this.lanes.delete(room);
  }

  private async lane(room: string, lane: { session: number }, ended: AbortSignal): Promise<void> {
    const { session } = lane;
    const backoff = new Backoff(this.options.backoff);
    for (;;) {
      const operation = this.pending.find((candidate) => candidate.room === room);
      if (!operation || session !== this.session) {
        // Unmarked now, not in a later microtask: an operation stored in between would find the
        // lane still marked as running and wait for the next reconnect.
        this.endLane(room, lane);
        return;
      }
      const { kind, order: _order, ...payload } = operation;
      let error: ChatError;
      try {
        const ack = (await this.options.request(kind, payload)) as Ack<OutboxResult> | undefined;
        if (ack?.ok) {
          await this.settle(operation, { result: withoutOk(ack) });
          backoff.reset();
          continue;
        }
        error = errorFromBody(ack?.error);
        if (!error.retryable) {
          await this.settle(operation, { error });
          continue;
        }
      } catch (thrown) {
        error = thrown instanceof ChatError ? thrown : new ChatError("INTERNAL", String(thrown));
        if (error.code === "DISCONNECTED") return;
      }
      await sleep(backoff.next(error.retryAfterMs), ended);
    }
  }

  private async settle(operation: StoredOperation, outcome: { result: OutboxResult } | { error: ChatError }): Promise<void> {
    const index = this.pending.indexOf(operation);
    // Settled already by a lane of an earlier session (its ack came in late).
    if (index < 0) return;
    this.pending.splice(index, 1);
    try {
      await this.options.store.remove(operation.clientId);
    } catch (error) {
      this.options.onStoreError?.(error as Error);
    }
    this.options.onSize?.(this.pending.length);
    const { order: _order, ...plain } = operation;
    this.options.onSettled?.(plain, outcome);
    const waiter = this.waiters.get(operation.clientId);
    this.waiters.delete(operation.clientId);
    if (!waiter) return;
    if ("result" in outcome) waiter.resolve(outcome.result);
    else waiter.reject(outcome.error);
  }
}

function withoutOk<T>(ack: { ok: true } & T): T {
  const { ok: _ok, ...result } = ack;
  return result as unknown as T;
}
