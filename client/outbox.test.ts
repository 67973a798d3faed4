/** The outbox's lanes, against an in-memory store and a request function that acknowledges at once. */
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { test } from "node:test";
import { Outbox } from "./outbox.js";
import type { OutboxStore, StoredOperation } from "./outbox-store.js";
import type { OutboxOperation } from "./protocol.js";

const react = (clientId: string): OutboxOperation => ({ kind: "react", room: "r", clientId, id: "m1", emoji: "👍", on: true });

test("an operation stored while its room's lane finishes is still sent (the lane ends before it looks again, or a new one starts)", async () => {
  // The second operation's store write ends `delay` microtasks after the first one's removal
  // began: some delay puts it between the lane's last look for work and the lane's end, where
  // a lane marked as running until a later microtask left it pending until the next reconnect.
  for (let delay = 0; delay < 30; delay++) {
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const kept = new Map<string, StoredOperation>();
    const store: OutboxStore = {
      load: async () => [],
      put: async (operation) => {
        if (operation.clientId === "second") {
          await gate;
          for (let i = 0; i < delay; i++) await Promise.resolve();
        }
        kept.set(operation.clientId, operation);
      },
      remove: async (clientId) => {
        if (clientId === "first") openGate();
        kept.delete(clientId);
      },
    };
    let seq = 0;
    const outbox = new Outbox({ store, request: async () => ({ ok: true, seq: ++seq, ts: 0 }) });
    outbox.resume();
    const first = outbox.add(react("first"));
    const second = outbox.add(react("second"));
    await first;
    // Store and requests answer in microtasks here: once the event loop gets to setImmediate, all is settled.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(outbox.size, 0, `with the store write ending ${delay} microtasks later, the second operation waits for ever`);
    await second;
    assert.equal(kept.size, 0);
  }
});
