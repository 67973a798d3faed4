import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import { Server } from "socket.io";
import { DeliveryProbe } from "./probe.js";

/**
 * An in-process stand-in for the gateway: acks `join` and `send` like docs/protocol.md, and delivers
 * (or, when told to, drops or refuses) the message to the joined sockets.
 */
let io: Server;
let url: string;
let behaviour: "deliver" | "drop" | "refuse" = "deliver";

before(async () => {
  const http = createServer();
  io = new Server(http);
  io.on("connection", (socket) => {
    socket.on("join", ({ room }: { room: string }, ack: (reply: object) => void) => {
      void socket.join(room);
      ack({ ok: true });
    });
    socket.on("send", ({ room, clientId }: { room: string; clientId: string }, ack: (reply: object) => void) => {
      if (behaviour === "refuse") return ack({ ok: false, error: { code: "UNAVAILABLE", message: "buffer full" } });
      ack({ ok: true, id: "x", seq: 1, ts: Date.now() });
      if (behaviour === "deliver") setTimeout(() => io.to(room).emit("message", { room, clientId, text: "probe" }), 20);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
});

after(() => io.close());

function newProbe(deadlineInMs: number) {
  const registry = new Registry();
  const metrics = {
    deliverySeconds: new Histogram({ name: "d", help: "d", buckets: [0.01, 0.5, 5], registers: [registry] }),
    failures: new Counter({ name: "f", help: "f", labelNames: ["stage"], registers: [registry] }),
  };
  const probe = new DeliveryProbe(
    { url, token: async () => "token", room: "chat-probe", deadlineInMs },
    metrics,
    pino({ level: "silent" }),
  );
  const counts = async () => {
    const histogram = (await metrics.deliverySeconds.get()).values;
    const failures = (await metrics.failures.get()).values;
    return {
      observed: histogram.find((v) => v.metricName === "d_count")?.value ?? 0,
      within500ms: histogram.find((v) => v.metricName === "d_bucket" && v.labels.le === 0.5)?.value ?? 0,
      failures: Object.fromEntries(failures.map((v) => [v.labels.stage, v.value])),
    };
  };
  return { probe, counts };
}

async function connected(probe: DeliveryProbe): Promise<void> {
  await probe.start();
  // Both clients connect and the receiver joins: a first probe before that counts as a connect failure.
  await sleep(300);
}

test("a delivered message is timed from send to delivery", async () => {
  behaviour = "deliver";
  const { probe, counts } = newProbe(2000);
  await connected(probe);
  await probe.probeOnce();
  await probe.probeOnce();
  probe.stop();
  assert.deepEqual(await counts(), { observed: 2, within500ms: 2, failures: {} });
});

test("a message acknowledged but never delivered is a delivery failure, observed at the deadline", async () => {
  behaviour = "drop";
  const { probe, counts } = newProbe(1000);
  await connected(probe);
  await probe.probeOnce();
  probe.stop();
  // Observed at the 1 s deadline: above the SLO's 500 ms, so the lost message burns the budget.
  assert.deepEqual(await counts(), { observed: 1, within500ms: 0, failures: { delivery: 1 } });
});

test("a refused send is a send failure, not a delivery time", async () => {
  behaviour = "refuse";
  const { probe, counts } = newProbe(1000);
  await connected(probe);
  await probe.probeOnce();
  probe.stop();
  assert.deepEqual(await counts(), { observed: 0, within500ms: 0, failures: { send: 1 } });
});
