/**
 * Finds the sockets that keep hammering (docs/protocol.md v1.1 "Limits"): one that sends at least
 * `perSecond` events in each of `seconds` consecutive whole seconds is to be disconnected, and
 * so is one that sends `burstPerSecond` events within one whole second.
 * The budget already refuses what is over the limit; this ends a client that ignores the
 * refusals, whose events still cost the node a parse and an ack each.
 *
 * Why the second rule: uWS reads up to 512 KB from a socket at once and hands every frame in
 * it to JavaScript before the event loop moves on, so a client sending as fast as it can makes
 * the node process thousands of events in one go: measured, stalls of 50–350 ms for every
 * other socket of the node, every few hundred ms, while the budget refused them all. Cutting
 * the socket after `burstPerSecond` events bounds such a stall to that many events.
 *
 * The state lives on the socket (created at its first event), so idle sockets carry nothing
 * and a closed socket takes its state with it.
 */
export interface FloodState {
  /** The whole second being counted. */
  second: number;
  count: number;
  /** Consecutive seconds before `second` that reached the threshold. */
  streak: number;
}

export class FloodGuard {
  constructor(
    private readonly perSecond: number,
    private readonly seconds: number,
    private readonly burstPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one event on `state` (undefined at a socket's first); returns the state and whether the socket must go. */
  count(state: FloodState | undefined): { state: FloodState; flooding: boolean } {
    const second = Math.floor(this.now() / 1000);
    if (!state) state = { second, count: 0, streak: 0 };
    if (second !== state.second) {
      const previousReached = state.count >= this.perSecond && second === state.second + 1;
      state.streak = previousReached ? state.streak + 1 : 0;
      state.second = second;
      state.count = 0;
    }
    state.count += 1;
    const sustained = state.count >= this.perSecond && state.streak + 1 >= this.seconds;
    return { state, flooding: sustained || state.count >= this.burstPerSecond };
  }
}
