/**
 * `npm run sdk:storm [-- --clients 300 --small-rooms 20 --big-rooms 2 --send-interval-ms 500
 * --warmup-ms 5000 --bound-ms 60000]`: the TypeScript SDK's reconnect-to-caught-up time in a
 * reconnect storm, on the local cluster this script starts on free ports (Redis, Cassandra,
 * 2 socket nodes, a flusher, the HAProxy gateway; the bring-up of `npm start`).
 *
 * The fault: HAProxy killed -9 and started again at once on the same ports, as a supervisor
 * restarts a crashed gateway. It is the fault that cuts every client at the same instant while
 * the backend lives on: the gateway is the one entry point, and its crash (OOM kill, host
 * reboot, a failover) drops every TCP connection at once. A node's SIGTERM drains its clients
 * over `reconnectAfterMs` on purpose (no storm), and killing one node cuts only its half
 * (measured in test/client/node-kill.integration.test.ts). The senders (one per room) talk to
 * the nodes directly, so messages keep coming while the clients are cut off, and each client
 * also writes one message during the outage.
 *
 * Prints p50/p95/p99/max of (session lost → SDK `synced`) and (fault → `synced`), the
 * correctness counts, the history requests of the catch-up against the storage reads they cost
 * after coalescing, and the load average; exits 1 when a client never caught up within the
 * bound, lost or repeated a message, or an acknowledged send is missing anywhere.
 */
import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DATA_ROOT } from "./infra/paths.js";
import { startLocalStack, type Apps, type Stores } from "./infra/stack.js";
import { mintToken } from "./lib/tokens.js";
import { formatDistribution } from "./sdk-storm/stats.js";
import { runStorm, verdicts, type StormOptions } from "./sdk-storm/storm.js";
import { formatHistoryDelta, readHistoryCounts } from "./sdk-storm/history-reads.js";

const SECRET = "sdk-storm-secret-0123456789";
const started = Date.now();
const log = (line: string) => console.log(`[sdk-storm +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);

function options(): Omit<StormOptions, "tag" | "log"> {
  const { values } = parseArgs({
    options: {
      clients: { type: "string", default: "300" },
      "small-rooms": { type: "string", default: "20" },
      "big-rooms": { type: "string", default: "2" },
      "send-interval-ms": { type: "string", default: "500" },
      "warmup-ms": { type: "string", default: "5000" },
      "bound-ms": { type: "string", default: "60000" },
    },
  });
  const positive = (name: keyof typeof values) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value <= 0) {
      console.error(`--${name} must be a positive whole number, got ${JSON.stringify(values[name])}`);
      process.exit(2);
    }
    return value;
  };
  return {
    clients: positive("clients"),
    smallRooms: positive("small-rooms"),
    bigRooms: positive("big-rooms"),
    sendIntervalInMs: positive("send-interval-ms"),
    warmupInMs: positive("warmup-ms"),
    boundInMs: positive("bound-ms"),
  };
}

async function main(): Promise<number> {
  const settings = options();
  const tag = `storm${Date.now().toString(36)}`;
  const dir = join(DATA_ROOT, `sdk-storm-${tag}`);
  mkdirSync(dir, { recursive: true });
  let stores: Stores | undefined;
  let apps: Apps | undefined;
  try {
    // The gateway's per-address limits stay off (its default): every client here is 127.0.0.1.
    ({ stores, apps } = await startLocalStack({ dir, keyspace: `sdk_${tag}`, jwtSecret: SECRET, log }));
    log(`cluster up at ${apps.gateway.url}, logs in ${dir}`);
    const running = apps;
    const result = await runStorm(
      {
        gatewayUrl: running.gateway.url,
        nodeUrls: running.nodes.map((node) => `http://127.0.0.1:${node.port}`),
        token: (userId, rooms) => mintToken({ secret: SECRET, userId, rooms }),
        faultName: "HAProxy killed -9, started again at once on the same ports",
        historyCounts: () => readHistoryCounts(running.nodes.map((node) => `http://127.0.0.1:${node.port}/metrics`)),
        async fault() {
          await running.gateway.process.kill();
          await running.restartGateway();
        },
      },
      { ...settings, tag, log },
    );
    const windowInMs = Number(process.env.CHAT_HISTORY_COALESCE_WINDOW_MS ?? 5);
    const load = loadavg().map((value) => value.toFixed(2));
    console.log(`
SDK reconnect storm: ${result.clients} clients in ${result.rooms} rooms; fault: ${result.faultName} (gateway back after ${result.entryDownInMs} ms)
  session lost → caught up (SDK \`synced\`): ${formatDistribution(result.noticedToCaughtUp)}
    of which lost → session open again:     ${formatDistribution(result.noticedToReconnected)}
    and session open → caught up:           ${formatDistribution(result.reconnectedToCaughtUp)}
  fault → caught up:                          ${formatDistribution(result.faultToCaughtUp)}
  never caught up within ${settings.boundInMs} ms: ${result.notCaughtUp}; synced before holding every pre-fault ack: ${result.caughtUpEarly}
  acknowledged sends: ${result.acked}; outage sends acknowledged: ${result.outageSendsAcked}/${result.outageSends}; refused for good: ${result.failedSends}
  lost: ${result.lost}, gaps: ${result.gaps}, duplicates: ${result.duplicates}
  SDK errors by code: ${JSON.stringify(result.sdkErrors)}
  history reads from the fault to the last client caught up, coalesced per room in windows of ${windowInMs} ms
  (CHAT_HISTORY_COALESCE_WINDOW_MS); the catch-up spanned ${result.catchUpSpanInMs} ms = ${Math.ceil(result.catchUpSpanInMs / windowInMs)} windows:
    ${result.catchUpHistory ? formatHistoryDelta(result.catchUpHistory, result.rooms).join("\n    ") : "not counted"}
  load average (1, 5, 15 min): ${load.join(", ")}`);
    for (const problem of result.problems) console.log(`  problem: ${problem}`);
    let failed = false;
    for (const { ok, what } of verdicts(result)) {
      console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`);
      failed ||= !ok;
    }
    return failed ? 1 : 0;
  } finally {
    await apps?.stop();
    await stores?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
