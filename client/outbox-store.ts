/**
 * Where the outbox keeps what is not acknowledged yet, so a page reload or a process restart
 * resends it with the same clientId (and the server de-duplicates). One implementation per
 * place: memory (here), IndexedDB for browsers (indexeddb-store.ts), a JSON file for Node
 * (file-store.ts). The contract suite in outbox-store.test.ts runs against each.
 */
import type { OutboxOperation } from "./protocol.js";

/** An operation and its place in the send order. */
export type StoredOperation = OutboxOperation & { order: number };

export interface OutboxStore {
  /** Every stored operation, ascending by `order`. */
  load(): Promise<StoredOperation[]>;
  /** Stores (or replaces) the operation of this clientId; resolves once it is durable. */
  put(operation: StoredOperation): Promise<void>;
  /** Forgets the operation of this clientId (acknowledged, or refused for good). */
  remove(clientId: string): Promise<void>;
}

/** Keeps nothing across a restart: for tests and for clients that need no persistence. */
export class MemoryOutboxStore implements OutboxStore {
  private readonly operations = new Map<string, StoredOperation>();

  async load(): Promise<StoredOperation[]> {
    return [...this.operations.values()].sort((a, b) => a.order - b.order).map((operation) => ({ ...operation }));
  }

  async put(operation: StoredOperation): Promise<void> {
    this.operations.set(operation.clientId, { ...operation });
  }

  async remove(clientId: string): Promise<void> {
    this.operations.delete(clientId);
  }
}

/** Checks what a store hands back: a corrupt or foreign record is skipped, never sent. */
export function isStoredOperation(value: unknown): value is StoredOperation {
  if (!value || typeof value !== "object") return false;
  const record = value as Record<string, unknown>;
  const strings = (...keys: string[]) => keys.every((key) => typeof record[key] === "string");
  if (typeof record["order"] !== "number" || !strings("room", "clientId")) return false;
  switch (record["kind"]) {
    case "send":
      return strings("text");
    case "edit":
      return strings("id", "text");
    case "delete":
      return strings("id");
    case "react":
      return strings("id", "emoji") && typeof record["on"] === "boolean";
    default:
      return false;
  }
}
