/** One contract suite, run against each Node-side OutboxStore. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { IDBFactory } from "fake-indexeddb";
import { FileOutboxStore } from "./file-store.js";
import { IndexedDbOutboxStore, type IdbFactory } from "./indexeddb-store.js";
import { MemoryOutboxStore, type OutboxStore, type StoredOperation } from "./outbox-store.js";

const dir = mkdtempSync(join(tmpdir(), "outbox-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const send = (clientId: string, order: number): Extract<StoredOperation, { kind: "send" }> => ({
  kind: "send",
  room: "r",
  clientId,
  text: `t-${clientId}`,
  order,
});

function contract(name: string, create: () => OutboxStore, reopen: (store: OutboxStore) => OutboxStore) {
  describe(name, () => {
    test("keeps operations in order, replaces by clientId, forgets removed ones", async () => {
      const store = create();
      await store.put(send("b", 2));
      await store.put(send("a", 1));
      await store.put({ kind: "react", room: "r", clientId: "c", id: "m1", emoji: "👍", on: true, order: 3 });
      await store.put({ ...send("b", 2), text: "replaced" });
      await store.remove("a");
      const loaded = await store.load();
      assert.deepEqual(
        loaded.map((operation) => operation.clientId),
        ["b", "c"],
      );
      assert.equal((loaded[0] as { text: string }).text, "replaced");
    });

    test("what it returns is a copy: changing it changes nothing stored", async () => {
      const store = create();
      await store.put(send("x", 1));
      (await store.load())[0]!.room = "other";
      assert.equal((await store.load())[0]!.room, "r");
    });

    test("survives a reopen (a reload)", async () => {
      const store = create();
      await store.put(send("kept", 1));
      await store.put(send("gone", 2));
      await store.remove("gone");
      assert.deepEqual(
        (await reopen(store).load()).map((operation) => operation.clientId),
        ["kept"],
      );
    });
  });
}

contract(
  "MemoryOutboxStore",
  () => new MemoryOutboxStore(),
  (store) => store,
);
let files = 0;
const paths = new WeakMap<OutboxStore, string>();
contract(
  "FileOutboxStore",
  () => {
    const path = join(dir, `outbox-${++files}.json`);
    const store = new FileOutboxStore(path);
    paths.set(store, path);
    return store;
  },
  (store) => new FileOutboxStore(paths.get(store)!),
);

// IndexedDB as the browser has it, from an in-memory implementation of the standard.
const databases = new WeakMap<OutboxStore, { name: string; factory: IdbFactory }>();
contract(
  "IndexedDbOutboxStore",
  () => {
    const factory = new IDBFactory() as unknown as IdbFactory;
    const store = new IndexedDbOutboxStore("chat-outbox-alice", factory);
    databases.set(store, { name: "chat-outbox-alice", factory });
    return store;
  },
  (store) => {
    const { name, factory } = databases.get(store)!;
    return new IndexedDbOutboxStore(name, factory);
  },
);

test("IndexedDbOutboxStore without IndexedDB says so", async () => {
  await assert.rejects(new IndexedDbOutboxStore("x", undefined).load(), /IndexedDB is not available here/);
});

test("FileOutboxStore skips records that are not operations and names an unreadable file", async () => {
  const path = join(dir, "mixed.json");
  writeFileSync(
    path,
    JSON.stringify([send("ok", 1), { kind: "send", room: 5 }, "junk", { kind: "edit", room: "r", clientId: "e", order: 2 }]),
  );
  assert.deepEqual(
    (await new FileOutboxStore(path).load()).map((operation) => operation.clientId),
    ["ok"],
  );
  const broken = join(dir, "broken.json");
  writeFileSync(broken, "{not json");
  await assert.rejects(new FileOutboxStore(broken).load(), /outbox file .*broken\.json is unreadable/);
});
