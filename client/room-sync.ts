/**
 * Keeps the joined rooms caught up. After every (re)connect each room is joined again with
 * `since` = its last contiguous seq, page after page until `more: false`; a gap (an entry
 * above lastSeq + 1 arrived) is filled the same way after a short delay, because events of
 * other nodes may simply be a little late. A retryable refusal waits out a backoff.
 */
import { Backoff, sleep, type BackoffOptions } from "./backoff.js";
import { ChatError } from "./errors.js";
import type { Change, JoinResult, Message } from "./protocol.js";
import { RoomState, type LogEntry } from "./room-state.js";

export interface RoomSyncOptions {
  request(event: string, payload: unknown): Promise<unknown>;
  backoff?: BackoffOptions;
  gapFillDelayInMs: number;
  onMessage(message: Message): void;
  onChange(change: Change, message: Message): void;
  /** Every joined room is caught up in this session. */
  onSynced(): void;
  onError(error: ChatError): void;
}

interface JoinedRoom {
  state: RoomState;
  ready: Promise<RoomState>;
  resolve(state: RoomState): void;
  reject(error: ChatError): void;
  /** The session its catch-up runs in, and whether another pass was asked for meanwhile. */
  running?: number;
  again?: boolean;
  /** The last session it was caught up in. */
  syncedIn?: number;
  gapTimer?: ReturnType<typeof setTimeout>;
  fillsWithoutProgress?: number;
}

export class RoomSync {
  private readonly rooms = new Map<string, JoinedRoom>();
  private session = 0;
  private connected = false;
  private sessionEnded = new AbortController();
  private syncedSession = -1;

  constructor(private readonly options: RoomSyncOptions) {}

  join(room: string, since: number | undefined): Promise<RoomState> {
    const known = this.rooms.get(room);
    if (known) return known.ready;
    const state = new RoomState(room, ({ message, change }) =>
      change ? this.options.onChange(change, message) : this.options.onMessage(message),
    );
    if (since !== undefined) state.start(since);
    let resolve!: (state: RoomState) => void;
    let reject!: (error: ChatError) => void;
    const ready = new Promise<RoomState>((yes, no) => ((resolve = yes), (reject = no)));
    // A refusal is also emitted as `error`: an ignored join promise must not be an unhandled rejection.
    ready.catch(() => undefined);
    const joined: JoinedRoom = { state, ready, resolve, reject };
    this.rooms.set(room, joined);
    this.run(joined);
    return ready;
  }

  /** Stops syncing the room; true when it was joined. */
  leave(room: string): boolean {
    const joined = this.rooms.get(room);
    if (!joined) return false;
    clearTimeout(joined.gapTimer);
    this.rooms.delete(room);
    joined.reject(new ChatError("CLOSED", `left ${room}`));
    return true;
  }

  room(room: string): RoomState | undefined {
    return this.rooms.get(room)?.state;
  }

  resume(): void {
    this.connected = true;
    this.session += 1;
    if (this.rooms.size === 0) this.checkSynced();
    for (const joined of this.rooms.values()) this.run(joined);
  }

  pause(): void {
    this.connected = false;
    this.session += 1;
    this.sessionEnded.abort();
    this.sessionEnded = new AbortController();
  }

  close(): void {
    this.pause();
    for (const room of [...this.rooms.keys()]) this.leave(room);
  }

  /** A live `message` or `change` event. */
  received(entry: LogEntry, room: unknown): void {
    const joined = typeof room === "string" ? this.rooms.get(room) : undefined;
    if (!Number.isInteger(entry.seq) || typeof room !== "string") {
      this.options.onError(new ChatError("INTERNAL", "the server sent an entry without a room or an integer seq; ignored"));
      return;
    }
    // Events of a room this client left (or never joined, e.g. another tab's join on a shared socket).
    if (!joined) return;
    if (joined.state.add(entry) === "ahead" && joined.state.lastSeq !== undefined) this.scheduleGapFill(joined);
  }

  /** The log of `room` reaches at least `seq` (an ack of this client's): fetched if its event does not come. */
  expect(room: string, seq: number): void {
    const joined = this.rooms.get(room);
    if (!joined) return;
    joined.state.expect(seq);
    if (joined.state.hasGap) this.scheduleGapFill(joined);
  }

  private scheduleGapFill(joined: JoinedRoom): void {
    if (joined.gapTimer) return;
    joined.gapTimer = setTimeout(() => {
      joined.gapTimer = undefined;
      if (joined.state.hasGap) this.run(joined);
    }, this.options.gapFillDelayInMs);
  }

  private run(joined: JoinedRoom): void {
    if (!this.connected) return;
    if (joined.running === this.session) {
      joined.again = true;
      return;
    }
    const session = this.session;
    joined.running = session;
    void this.catchUp(joined, session, this.sessionEnded.signal).finally(() => {
      if (joined.running === session) joined.running = undefined;
    });
  }

  private async catchUp(joined: JoinedRoom, session: number, ended: AbortSignal): Promise<void> {
    const { state } = joined;
    const backoff = new Backoff(this.options.backoff);
    const lastBefore = state.lastSeq;
    do {
      joined.again = false;
      for (;;) {
        if (session !== this.session || this.rooms.get(state.room) !== joined) return;
        const since = state.lastSeq;
        let answer: JoinResult;
        try {
          answer = await this.joinRequest(state.room, since);
        } catch (thrown) {
          const error = thrown instanceof ChatError ? thrown : new ChatError("INTERNAL", String(thrown));
          if (error.code === "DISCONNECTED") return;
          this.options.onError(error);
          if (!error.retryable) {
            this.rooms.delete(state.room);
            joined.reject(error);
            return;
          }
          await sleep(backoff.next(error.retryAfterMs), ended);
          continue;
        }
        if (since === undefined) state.start(answer.seq);
        else for (const entry of entriesOf(answer)) state.add(entry);
        if (!answer.more) break;
      }
    } while (joined.again);
    this.afterFill(joined, lastBefore);
    joined.syncedIn = session;
    joined.resolve(state);
    this.checkSynced();
  }

  /**
   * A gap that a fill did not close waits for the next fill: the entries may be on their way
   * (the server reads the log after it joined the room, so later ones come live). Three fills
   * in a row without progress mean the server has no such entry; the room skips the hole
   * rather than stall (the protocol promises none among acknowledged entries: a safety net).
   */
  private afterFill(joined: JoinedRoom, lastBefore: number | undefined): void {
    if (!joined.state.hasGap) {
      joined.fillsWithoutProgress = 0;
      return;
    }
    joined.fillsWithoutProgress = joined.state.lastSeq === lastBefore ? (joined.fillsWithoutProgress ?? 0) + 1 : 0;
    if (joined.fillsWithoutProgress >= 3) {
      this.options.onError(
        new ChatError("INTERNAL", `${joined.state.room}: seqs after ${joined.state.lastSeq} are missing on the server; skipped`),
      );
      joined.state.skipHole();
      joined.fillsWithoutProgress = 0;
    }
    if (joined.state.hasGap) this.scheduleGapFill(joined);
  }

  private async joinRequest(room: string, since: number | undefined): Promise<JoinResult> {
    const answer = (await this.options.request("join", since === undefined ? { room } : { room, since })) as JoinResult;
    if (!answer || !Number.isInteger(answer.seq)) throw new ChatError("INTERNAL", `join ${room}: the answer has no seq`);
    return answer;
  }

  private checkSynced(): void {
    if (this.syncedSession === this.session || !this.connected) return;
    for (const joined of this.rooms.values()) if (joined.syncedIn !== this.session) return;
    this.syncedSession = this.session;
    this.options.onSynced();
  }
}

/** A join answer's messages and changes as one ascending run of log entries. */
function entriesOf(answer: JoinResult): LogEntry[] {
  const entries: LogEntry[] = [
    ...(answer.messages ?? []).map((message) => ({ seq: message.seq, message })),
    ...(answer.changes ?? []).map((change) => ({ seq: change.seq, change })),
  ];
  return entries.filter((entry) => Number.isInteger(entry.seq)).sort((a, b) => a.seq - b.seq);
}
