/**
 * The delivery prober: `node dist/ops/prober/main.js`. Sends a message every
 * CHAT_PROBE_INTERVAL_MS through the gateway (CHAT_PROBE_URL) and measures its delivery to a second
 * client, exported as `chat_probe_delivery_seconds` on CHAT_PROBE_HTTP_PORT/metrics (the
 * delivery-latency SLO of docs/operations.md). Its token: CHAT_PROBE_TOKEN, or minted for user
 * `chat-prober` from CHAT_JWT_SECRET (HS256 deployments). Room: CHAT_PROBE_ROOM.
 */
import { createServer } from "node:http";
import { Counter, Histogram } from "prom-client";
import { EnvReader } from "../../common/env.js";
import { createLogger } from "../../common/logger.js";
import { createRegistry } from "../../common/metrics.js";
import { mintToken } from "../../scripts/lib/tokens.js";
import { DeliveryProbe } from "./probe.js";

const env = new EnvReader();
const url = env.string("CHAT_PROBE_URL", "http://127.0.0.1:8080");
const room = env.string("CHAT_PROBE_ROOM", "chat-probe");
const intervalInMs = env.integer("CHAT_PROBE_INTERVAL_MS", 1000, { min: 100, max: 60_000 });
// At least 1 s: a lost message is observed at the deadline, which must lie above the SLO's 500 ms.
const deadlineInMs = env.integer("CHAT_PROBE_DEADLINE_MS", 5000, { min: 1000, max: 60_000 });
const httpPort = env.integer("CHAT_PROBE_HTTP_PORT", 9102, { min: 0, max: 65535 });
const name = env.string("CHAT_PROBE_NAME", "prober");
const givenToken = env.optionalString("CHAT_PROBE_TOKEN");
const secret = env.optionalString("CHAT_JWT_SECRET");
if (!givenToken && !secret) throw new Error("CHAT_PROBE_TOKEN or CHAT_JWT_SECRET must be set: the prober needs a token for its room");
const logger = createLogger("prober");

const registry = createRegistry("prober", name);
const metrics = {
  deliverySeconds: new Histogram({
    name: "chat_probe_delivery_seconds",
    help: "Time from a probe client's send to the message's delivery to a second client in the room",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  }),
  failures: new Counter({
    name: "chat_probe_failures_total",
    help: "Probes that failed, by stage (connect, join, send, delivery)",
    labelNames: ["stage"],
    registers: [registry],
  }),
};
for (const stage of ["connect", "join", "send", "delivery"]) metrics.failures.inc({ stage }, 0);

const token = async () => givenToken ?? (await mintToken({ secret: secret!, userId: "chat-prober", rooms: [room], ttlInSeconds: 3600 }));
const probe = new DeliveryProbe({ url, token, room, deadlineInMs }, metrics, logger);
await probe.start();

const server = createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/healthz" || path === "/readyz") return void res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  if (path !== "/metrics") return void res.writeHead(404).end();
  registry.metrics().then(
    (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
    (error: unknown) => res.writeHead(500).end(String(error)),
  );
});
await new Promise<void>((resolve) => server.listen(httpPort, "0.0.0.0", resolve));
logger.info({ httpPort, room, intervalInMs, deadlineInMs }, "prober started");
process.send?.({ type: "listening", port: (server.address() as { port: number }).port });

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    stopping = true;
  });
}
while (!stopping) {
  const started = Date.now();
  await probe.probeOnce();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, intervalInMs - (Date.now() - started))));
}
probe.stop();
server.close();
logger.info("prober stopped");
