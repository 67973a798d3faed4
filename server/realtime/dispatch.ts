/**
 * Registers one client event: payload validation, the handler, and the ack. Every event takes
 * an ack callback (PROTOCOL.md "Acks and errors"); whatever the handler throws becomes an
 * `{ ok: false, error }` ack, so bad input never crashes the node or disappears silently.
 */
import type { Socket } from "socket.io";
import type { ZodType } from "zod";
import type { Logger } from "../../common/logger.js";
import { ChatError, toErrorBody } from "../errors.js";
import type { NodeMetrics } from "../metrics.js";
import type { Principal } from "./auth.js";
import { describeIssue } from "./schemas.js";

export interface EventContext {
  socket: Socket;
  principal: Principal;
}

export type EventHandler<P> = (payload: P, context: EventContext) => Promise<Record<string, unknown>>;

export interface EventDefinition<P> {
  name: string;
  schema: ZodType<P>;
  handle: EventHandler<P>;
}

type Ack = (reply: unknown) => void;

/** An event definition bound to its dependencies, ready to attach to each connected socket. */
export interface EventBinding {
  name: string;
  attach(context: EventContext): void;
}

export function bindEvent<P>(definition: EventDefinition<P>, metrics: NodeMetrics, logger: Logger): EventBinding {
  return { name: definition.name, attach: (context) => registerEvent(context, definition, metrics, logger) };
}

/**
 * Answers events nobody handles with BAD_REQUEST when they carry an ack: without this a client
 * that misspells an event waits for its ack timeout instead of learning what is wrong.
 */
export function rejectUnknownEvents(context: EventContext, known: ReadonlySet<string>, metrics: NodeMetrics): void {
  context.socket.onAny((event: unknown, ...args: unknown[]) => {
    if (typeof event === "string" && known.has(event)) return;
    const last = args[args.length - 1];
    metrics.errors.inc({ code: "BAD_REQUEST", event: "unknown" });
    if (typeof last === "function") (last as Ack)({ ok: false, error: { code: "BAD_REQUEST", message: `unknown event ${JSON.stringify(String(event)).slice(0, 80)}` } });
  });
}

function registerEvent<P>(context: EventContext, definition: EventDefinition<P>, metrics: NodeMetrics, logger: Logger): void {
  context.socket.on(definition.name, async (...args: unknown[]) => {
    const last = args[args.length - 1];
    const ack = typeof last === "function" ? (last as Ack) : undefined;
    const payload = ack ? args.slice(0, -1)[0] : args[0];
    try {
      const parsed = definition.schema.safeParse(payload);
      if (!parsed.success) throw new ChatError("BAD_REQUEST", describeIssue(parsed.error));
      const result = await definition.handle(parsed.data, context);
      ack?.({ ok: true, ...result });
    } catch (error) {
      const body = toErrorBody(error);
      metrics.errors.inc({ code: body.code, event: definition.name });
      if (body.code === "INTERNAL") logger.error({ err: error, event: definition.name, user: context.principal.userId }, "event handler failed");
      ack?.({ ok: false, error: body });
    }
  });
}
