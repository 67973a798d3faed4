/**
 * The outbox in IndexedDB, for browsers: what a page did not get acknowledged is sent again,
 * with the same clientId, by the page that loads next. One database per name (give each
 * signed-in user their own), one object store keyed by clientId.
 *
 * The few IndexedDB types used are declared here rather than compiling the SDK against the
 * DOM library, so one build (tsc for Node) compiles every part of the repository.
 */
import { isStoredOperation, type OutboxStore, type StoredOperation } from "./outbox-store.js";

interface IdbRequest<T> {
  result: T;
  error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
}
interface IdbObjectStore {
  getAll(): IdbRequest<unknown[]>;
  put(value: unknown): IdbRequest<unknown>;
  delete(key: string): IdbRequest<unknown>;
}
interface IdbTransaction {
  objectStore(name: string): IdbObjectStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  error: unknown;
}
interface IdbDatabase {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string, options: { keyPath: string }): unknown;
  transaction(store: string, mode: "readonly" | "readwrite"): IdbTransaction;
}
export interface IdbFactory {
  open(name: string, version: number): IdbOpenRequest;
}

const STORE = "outbox";

export class IndexedDbOutboxStore implements OutboxStore {
  private database: Promise<IdbDatabase> | undefined;

  constructor(
    private readonly name = "chat-outbox",
    /** Injected by tests; a browser's own `indexedDB` by default. */
    private readonly factory: IdbFactory | undefined = (globalThis as { indexedDB?: IdbFactory }).indexedDB,
  ) {}

  async load(): Promise<StoredOperation[]> {
    const records = await this.run("readonly", (store) => store.getAll());
    return records.filter(isStoredOperation).sort((a, b) => a.order - b.order);
  }

  async put(operation: StoredOperation): Promise<void> {
    await this.run("readwrite", (store) => store.put(operation));
  }

  async remove(clientId: string): Promise<void> {
    await this.run("readwrite", (store) => store.delete(clientId));
  }

  /** One request in its own transaction; resolves with its result once the transaction committed. */
  private async run<T>(mode: "readonly" | "readwrite", request: (store: IdbObjectStore) => IdbRequest<T>): Promise<T> {
    const database = await this.open();
    return new Promise((resolve, reject) => {
      const transaction = database.transaction(STORE, mode);
      const pending = request(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(pending.result);
      transaction.onerror = transaction.onabort = () =>
        reject(new Error(`IndexedDB ${this.name}: ${String(transaction.error ?? pending.error)}`));
    });
  }

  private open(): Promise<IdbDatabase> {
    const factory = this.factory;
    if (!factory) return Promise.reject(new Error("IndexedDB is not available here: pass another OutboxStore"));
    return (this.database ??= new Promise((resolve, reject) => {
      const request = factory.open(this.name, 1);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE, { keyPath: "clientId" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(new Error(`IndexedDB ${this.name} cannot be opened: ${String(request.error)}`));
    }));
  }
}
