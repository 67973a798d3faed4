/** Counters of the coalesced history reads (storage/coalescing-history.ts): requests by joins and history, and the reads that reached storage. */
import { Counter, type Registry } from "prom-client";
import type { CoalescingOptions } from "../storage/coalescing-history.js";

export function historyReadMetrics(registry: Registry): Pick<CoalescingOptions, "onRequest" | "onStorageRead"> {
  const requests = new Counter({
    name: "chat_history_requests_total",
    help: "History reads asked for (join { since }, join's latest seq, history pages), by kind",
    labelNames: ["kind"],
    registers: [registry],
  });
  const reads = new Counter({
    name: "chat_history_storage_reads_total",
    help: "Reads of Redis and Cassandra made for them after coalescing, by kind",
    labelNames: ["kind"],
    registers: [registry],
  });
  return { onRequest: (kind) => requests.inc({ kind }), onStorageRead: (kind) => reads.inc({ kind }) };
}
