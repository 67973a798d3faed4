/**
 * The outbox in a JSON file, for Node clients (bots, services) that must not lose a send when
 * the process restarts. Every change rewrites the file through a temporary file and a rename,
 * so a crash leaves the old or the new content, never half of one. Node only: not part of the
 * browser entry point.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { isStoredOperation, type OutboxStore, type StoredOperation } from "./outbox-store.js";

export class FileOutboxStore implements OutboxStore {
  private operations: Map<string, StoredOperation> | undefined;
  /** Writes in the order they were asked for. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  async load(): Promise<StoredOperation[]> {
    const operations = await this.read();
    return [...operations.values()].sort((a, b) => a.order - b.order).map((operation) => ({ ...operation }));
  }

  put(operation: StoredOperation): Promise<void> {
    return this.update((operations) => operations.set(operation.clientId, { ...operation }));
  }

  remove(clientId: string): Promise<void> {
    return this.update((operations) => operations.delete(clientId));
  }

  private update(change: (operations: Map<string, StoredOperation>) => void): Promise<void> {
    const write = this.queue.then(async () => {
      const operations = await this.read();
      change(operations);
      await mkdir(dirname(this.path), { recursive: true });
      const temporary = `${this.path}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify([...operations.values()]));
      await rename(temporary, this.path);
    });
    // The next write waits for this one, whether it failed or not; the caller sees the failure.
    this.queue = write.catch(() => undefined);
    return write;
  }

  private async read(): Promise<Map<string, StoredOperation>> {
    if (this.operations) return this.operations;
    let records: unknown = [];
    try {
      records = JSON.parse(await readFile(this.path, "utf8"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT")
        throw new Error(`outbox file ${this.path} is unreadable: ${(error as Error).message}`);
    }
    const operations = new Map<string, StoredOperation>();
    for (const record of Array.isArray(records) ? records : []) {
      if (isStoredOperation(record)) operations.set(record.clientId, record);
    }
    return (this.operations = operations);
  }
}
