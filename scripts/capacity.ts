/**
 * `npm run capacity -- --users N --sends-per-second S --room-size R`: how many of each component
 * a peak needs with 1.5× headroom, from bench/results.json (scripts/capacity/plan.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "./infra/paths.js";
import { admissionDefaults, chartDefaults, HEADROOM, plan, type BenchFigures } from "./capacity/plan.js";

function positive(name: string, value: string | undefined): number {
  const number = Number(value);
  if (value === undefined || !Number.isFinite(number) || number <= 0) {
    console.error(
      `--${name} must be a positive number, got ${value ?? "nothing"}\nusage: npm run capacity -- --users N --sends-per-second S --room-size R [--results bench/results.json]`,
    );
    process.exit(2);
  }
  return number;
}

const { values } = parseArgs({
  options: {
    users: { type: "string" },
    "sends-per-second": { type: "string" },
    "room-size": { type: "string" },
    results: { type: "string" },
  },
});
const resultsFile = values.results ?? join(REPO_ROOT, "bench/results.json");
const figures = JSON.parse(readFileSync(resultsFile, "utf8")) as BenchFigures;
const result = plan(figures, {
  users: positive("users", values.users),
  sendsPerSecond: positive("sends-per-second", values["sends-per-second"]),
  roomSize: positive("room-size", values["room-size"]),
});
const admission = admissionDefaults(figures);
const chart = chartDefaults(figures);

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(`Peak: ${fmt(result.peak.users)} users online, ${fmt(result.peak.sendsPerSecond)} sends/s, rooms of ${result.peak.roomSize} (${fmt(result.peak.sendsPerSecond * result.peak.roomSize)} deliveries/s); headroom ${HEADROOM}×
Figures: ${resultsFile} (bench run of ${figures.startedAt})

| component | count | one instance takes | from |
|---|---|---|---|
| socket nodes | ${result.nodes} (bound by ${result.nodesBoundBy}) | ${fmt(result.capacities.nodeDeliveries.perInstance)} ${result.capacities.nodeDeliveries.unit}, ${fmt(result.capacities.nodeConnections.perInstance)} ${result.capacities.nodeConnections.unit} | ${result.capacities.nodeDeliveries.source}; ${result.capacities.nodeConnections.source} |
| Redis primaries | ${result.redisPrimaries} | ${fmt(result.capacities.redisSends.perInstance)} ${result.capacities.redisSends.unit} | ${result.capacities.redisSends.source} |
| flushers | ${result.flushers} | ${fmt(result.capacities.flusherRows.perInstance)} ${result.capacities.flusherRows.unit} | ${result.capacities.flusherRows.source} |
| Cassandra nodes | ${result.cassandraNodes} | ${fmt(result.capacities.cassandraRows.perInstance)} ${result.capacities.cassandraRows.unit} | ${result.capacities.cassandraRows.source} |

Minimums: 2 nodes and 2 flushers (one may die or roll), Cassandra at least its replication factor (3).
Node admission defaults from the same figures: CHAT_MAX_CONNECTIONS ${admission.maxConnections}, CHAT_CONNECT_RATE ${admission.connectRatePerSecond}/s;
keep the gateway's CHAT_GATEWAY_NODE_MAXCONN at or below CHAT_MAX_CONNECTIONS.
Chart defaults from the same figures: nodes.autoscaling.connections.targetAverageValue ${chart.hpaConnectionsPerPod} (sockets per pod),
haproxy.waitingRoom.maxConnectionsPerNode ${chart.gatewayMaxConnectionsPerNode}.`);
