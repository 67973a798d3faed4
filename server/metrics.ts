/** The socket node's Prometheus metrics: what an operator watches on a chat node. */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface NodeMetrics {
  registry: Registry;
  connections: Gauge;
  messagesIn: Counter;
  messagesOut: Counter;
  ackLatency: Histogram;
  errors: Counter<"code" | "event">;
  refusals: Counter<"reason">;
}

export function createNodeMetrics(registry: Registry): NodeMetrics {
  return {
    registry,
    connections: new Gauge({ name: "chat_connections", help: "Connected sockets on this node", registers: [registry] }),
    messagesIn: new Counter({
      name: "chat_messages_in_total",
      help: "Messages accepted by send (acknowledged ok, duplicates excluded)",
      registers: [registry],
    }),
    messagesOut: new Counter({
      name: "chat_messages_out_total",
      help: "Messages fanned out to a room (one per message, not per recipient)",
      registers: [registry],
    }),
    ackLatency: new Histogram({
      name: "chat_ack_latency_seconds",
      help: "Time from receiving a send to acknowledging it",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    errors: new Counter({
      name: "chat_errors_total",
      help: "Error acks and responses, by code and event",
      labelNames: ["code", "event"],
      registers: [registry],
    }),
    refusals: new Counter({
      name: "chat_refusals_total",
      help: "Requests, events and connections refused (or typing dropped) by a limit, by reason (server/chat/limits.ts RefusalReason)",
      labelNames: ["reason"],
      registers: [registry],
    }),
  };
}
