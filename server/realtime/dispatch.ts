/**
 * Client events: the handler, and the ack. Every event takes an ack callback (docs/protocol.md
 * "Acks and errors"); whatever the handler throws (the chat domain validates the payload and
 * throws ChatError) becomes an `{ ok: false, error }` ack, so bad input never crashes the node
 * or disappears silently.
 *
 * One dispatcher function serves every socket of the node: socket.io calls "any" listeners
 * with `this` bound to the socket, so no socket needs closures of its own (a closure and its
 * context per event per socket was ~1 KB of heap for each idle connection).
 *
 * Each handled event is one client action with a correlation id of its own (common/trace-id.ts):
 * handlers pass it on to what the action writes (the stream entry, for the flusher's lines),
 * and every line logged here about the event carries it as `trace.id`.
 */
import { Socket } from "socket.io";
import type { Logger } from "../../common/logger.js";
import { newTraceId, traceFields } from "../../common/trace-id.js";
import { toErrorBody } from "../chat/errors.js";
import type { Principal } from "../chat/principal.js";
import type { NodeMetrics } from "../metrics.js";
import type { FloodGuard, FloodState } from "./flood-guard.js";
import { OVERSIZED_EVENT } from "./frame-limit.js";

export interface EventContext {
  socket: Socket;
  principal: Principal;
  /** This event's correlation id, logged as `trace.id` (common/trace-id.ts). */
  traceId: string;
}

/** Gets the payload as the client sent it: the chat domain validates it. */
export type EventHandler = (payload: unknown, context: EventContext) => Promise<Record<string, unknown>>;

export interface EventDefinition {
  name: string;
  handle: EventHandler;
}

type Ack = (reply: unknown) => void;

/** An event definition bound to its dependencies. */
export interface EventBinding {
  name: string;
  /** Handles one received event: `args` as socket.io passes them, the ack (if any) last. Never rejects. */
  receive(args: unknown[], context: Omit<EventContext, "traceId">): Promise<void>;
}

export function bindEvent(definition: EventDefinition, metrics: NodeMetrics, logger: Logger): EventBinding {
  return { name: definition.name, receive: (args, context) => receiveEvent(definition, args, context, metrics, logger) };
}

/** A socket's "any" listener; socket.io calls it with `this` = the socket. */
export type Dispatcher = (this: Socket, event: unknown, ...args: unknown[]) => void;

/** What every event goes through before its handler: the user's budget and the socket's flood check. */
export interface Admission {
  /** Charges the event to the user's budget; throws RATE_LIMITED (ChatError) when it is spent. */
  admit(principal: Principal): void;
  flood: FloodGuard;
  /** The socket kept flooding: disconnect it (with its reason). */
  onFlood(socket: Socket): void;
}

/**
 * The one listener every socket gets (`socket.onAny(dispatcher)`). Every event, known or not,
 * well-formed or not, is charged to the user's budget first and counted for the socket's flood
 * check. Events nobody handles are answered with BAD_REQUEST when they carry an ack: without
 * this a client that misspells an event waits for its ack timeout instead of learning what is
 * wrong.
 */
export function createDispatcher(events: readonly EventBinding[], metrics: NodeMetrics, admission: Admission): Dispatcher {
  const byName = new Map(events.map((event) => [event.name, event]));
  return function dispatch(this: Socket, event: unknown, ...args: unknown[]): void {
    // The shared listener relies on socket.io's `listener.apply(socket, args)` (socket.js
    // onevent): if a socket.io version stops doing that, fail at the first event rather than
    // answer with another socket's identity.
    if (!(this instanceof Socket))
      throw new Error("socket.io called an any-listener without the socket as `this`; the event dispatcher needs it");
    // socket.io itself drops events that arrive after the socket disconnected.
    if (!this.connected) return;
    const counted = admission.flood.count(this.data.flood as FloodState | undefined);
    this.data.flood = counted.state;
    if (counted.flooding) return admission.onFlood(this);
    const last = args[args.length - 1];
    const ack = typeof last === "function" ? (last as Ack) : undefined;
    const binding = typeof event === "string" ? byName.get(event) : undefined;
    const principal = this.data.principal as Principal;
    try {
      admission.admit(principal);
    } catch (error) {
      const body = toErrorBody(error);
      metrics.errors.inc({ code: body.code, event: binding?.name ?? "unknown" });
      ack?.({ ok: false, error: body });
      return;
    }
    if (binding) {
      handleInTurn(this, binding, args, principal);
      return;
    }
    if (event === OVERSIZED_EVENT) {
      // frame-limit.ts hands an event over the frame limit on as this, with its size and ack.
      metrics.errors.inc({ code: "TOO_LARGE", event: "oversized" });
      const [bytes, maxBytes] = args as [number, number];
      ack?.({ ok: false, error: { code: "TOO_LARGE", message: `the event has ${bytes} bytes; at most ${maxBytes} are allowed` } });
      return;
    }
    metrics.errors.inc({ code: "BAD_REQUEST", event: "unknown" });
    ack?.({ ok: false, error: { code: "BAD_REQUEST", message: `unknown event ${JSON.stringify(String(event)).slice(0, 80)}` } });
  };
}

/**
 * At most this many events of one socket are handled at once; later ones wait for a turn, in
 * order. A client's burst (the budget grants up to its burst at once: 100 joins, each a Redis
 * script, a fan-out and storage reads) then reaches storage a few at a time instead of all in
 * one tick, which stalled the node for every other socket (measured: 0.3–0.5 s on the 2-core
 * dev machine). Clients that keep a few requests in flight never wait.
 */
export const MAX_EVENTS_IN_FLIGHT_PER_SOCKET = 16;

interface Turns {
  inFlight: number;
  waiting: { binding: EventBinding; args: unknown[] }[];
}

function handleInTurn(socket: Socket, binding: EventBinding, args: unknown[], principal: Principal): void {
  // Created at a socket's first event: an idle socket carries nothing.
  const turns: Turns = (socket.data.turns as Turns | undefined) ?? (socket.data.turns = { inFlight: 0, waiting: [] });
  if (turns.inFlight >= MAX_EVENTS_IN_FLIGHT_PER_SOCKET) {
    turns.waiting.push({ binding, args });
    return;
  }
  turns.inFlight += 1;
  void binding.receive(args, { socket, principal }).then(() => {
    turns.inFlight -= 1;
    const next = turns.waiting.shift();
    // A socket that went away has nobody to answer: what waited is dropped, like socket.io
    // drops events that arrive after a disconnect.
    if (next && socket.connected) handleInTurn(socket, next.binding, next.args, principal);
    else turns.waiting.length = 0;
  });
}

async function receiveEvent(
  definition: EventDefinition,
  args: unknown[],
  { socket, principal }: Omit<EventContext, "traceId">,
  metrics: NodeMetrics,
  logger: Logger,
): Promise<void> {
  const last = args[args.length - 1];
  const ack = typeof last === "function" ? (last as Ack) : undefined;
  const payload = ack ? args.slice(0, -1)[0] : args[0];
  const traceId = newTraceId();
  const started = performance.now();
  try {
    const result = await definition.handle(payload, { socket, principal, traceId });
    ack?.({ ok: true, ...result });
    // One line per event only at debug: at info, every message sent would be a log line.
    if (logger.isLevelEnabled("debug")) logger.debug(eventLine(definition.name, principal, traceId, started, result), "event handled");
  } catch (error) {
    const body = toErrorBody(error);
    metrics.errors.inc({ code: body.code, event: definition.name });
    if (body.code === "INTERNAL")
      logger.error({ err: error, ...eventLine(definition.name, principal, traceId, started) }, "event handler failed");
    else if (logger.isLevelEnabled("debug"))
      logger.debug({ ...eventLine(definition.name, principal, traceId, started), "error.code": body.code }, "event refused");
    ack?.({ ok: false, error: body });
  }
}

/**
 * What a line about one event says: ECS `event.action` (the event's name), `user.id`, the
 * correlation id, how long it took (`event.duration`, ECS's nanoseconds) and, when it
 * succeeded, the ids it answered (a message's `id` and `seq`: never its text).
 */
function eventLine(
  action: string,
  principal: Principal,
  traceId: string,
  started: number,
  result?: Record<string, unknown>,
): Record<string, unknown> {
  const line: Record<string, unknown> = {
    "event.action": action,
    "user.id": principal.userId,
    ...traceFields(traceId),
    "event.duration": Math.round((performance.now() - started) * 1e6),
  };
  if (typeof result?.id === "string") line.id = result.id;
  if (typeof result?.seq === "number") line.seq = result.seq;
  if (result?.duplicate === true) line.duplicate = true;
  return line;
}
