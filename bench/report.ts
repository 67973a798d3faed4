/** Turns a run's measurements into the checks table, results.json, the PNG chart and the README section. */
import type { Placement } from "./lib/cpu-placement.js";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { check, markdownTable, type Check } from "./lib/checks.js";
import { CHECKS, FigureRefused } from "./lib/integrity.js";
import { chartSvg, renderPng } from "./lib/chart.js";
import type { Machine } from "./lib/machine.js";
import { round } from "./lib/stats.js";
import type { FlushResult } from "./flush-vs-raw.js";
import type { ClusterRow, FanoutRow } from "./scenarios/fanout.js";
import type { CentrifugoResults } from "./scenarios/centrifugo.js";
import type { ChangesResult } from "./scenarios/changes.js";
import { describeRate, type LoadPoint } from "./scenarios/acked-load.js";
import type { EndToEndResult, IngestResult } from "./scenarios/ingest.js";
import type { MemoryRow } from "./scenarios/memory.js";
import { redisModesTable, type RedisModesResult } from "./scenarios/redis-modes.js";

export interface BenchResults {
  mode: "full" | "quick";
  startedAt: string;
  durationInSeconds: number;
  machine: Machine;
  /** 1-minute load averages when the run started and ended: how shared the machine was. */
  loadAverages: { atStart: number; atEnd: number };
  fanout: FanoutRow[];
  cluster: ClusterRow[];
  memory: MemoryRow[];
  ingest: IngestResult;
  endToEnd: EndToEndResult;
  flush: FlushResult;
  /** CPUs of the ack path (nodes + Redis) and of everything else while latency was measured; null: unplaced. */
  latencyPlacement: Placement | null;
  /** Item 7, the peer with history (its fan-out rows are in `fanout`); null when not measured. */
  centrifugo: CentrifugoResults | null;
  /** Item 8, ingest on one Redis vs Redis Cluster with ack replicas 0 and 1; null (or absent in older results) when not measured. */
  redisModes?: RedisModesResult | null;
  /** Item 4's changes (edits and reactions) beside the sends; null (or absent in older results) when not measured. */
  changes?: ChangesResult | null;
}

const us = (micros: number) => `${micros.toFixed(2)} µs`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(2)} KB`;
const ms = (millis: number) => `${millis.toFixed(2)} ms`;
const latencyDetail = (p: LoadPoint) => `p50 ${ms(p.ack.p50InMs)}, p99 ${ms(p.ack.p99InMs)}, p99.9 ${ms(p.ack.p999InMs)}`;
/** The latency point at `fraction` of the stack's own maximum. */
const atOwnMaximum = (ingest: IngestResult, fraction: number) =>
  ingest.points.find((p) => p.basis === "own maximum" && Math.abs(p.loadFraction - fraction) < 1e-9);
const atFixedRate = (ingest: IngestResult) => ingest.points.find((p) => p.basis === "fixed");

/**
 * The scenarios refuse a broken window as it happens (lib/integrity.ts); this states the same
 * invariants once more on the results, exactly (no tolerance: a missing, repeated or extra
 * delivery or row, or one failed send, is a broken run), so no table is built from a run that
 * broke them, whatever path produced the results.
 */
export function requireSoundResults(r: BenchResults): void {
  const exact = (check: (typeof CHECKS)[keyof typeof CHECKS], where: string, got: number, expected: number, what: string) => {
    if (!(expected > 0) || got !== expected) throw new FigureRefused(check, where, `${got} of ${expected} ${what}`);
  };
  for (const row of r.fanout)
    exact(CHECKS.deliveries, `fan-out ${row.stack}, room ${row.roomSize}`, row.deliveries, row.expectedDeliveries, "expected deliveries");
  for (const row of r.cluster)
    exact(CHECKS.deliveries, `cluster, room ${row.roomSize}`, row.deliveries, row.expectedDeliveries, "expected deliveries");
  // Memory: every measured connection was still open when the heap was read (scenarios/memory.ts).
  const failed = (ingest: IngestResult) =>
    Object.values(ingest.maxFailures).reduce((sum, n) => sum + n, 0) + ingest.points.reduce((sum, p) => sum + p.failed, 0);
  if (failed(r.ingest) > 0) throw new FigureRefused(CHECKS.sends, "ingest", `${failed(r.ingest)} sends failed`);
  if (r.centrifugo && failed(r.centrifugo.ingest) > 0)
    throw new FigureRefused(CHECKS.sends, "Centrifugo publish", `${failed(r.centrifugo.ingest)} publishes failed`);
  if (r.changes) {
    const changesFailed =
      Object.values(r.changes.maxFailures).reduce((sum, n) => sum + n, 0) + r.changes.points.reduce((sum, p) => sum + p.failed, 0);
    if (changesFailed > 0) throw new FigureRefused(CHECKS.changes, "changes", `${changesFailed} changes failed`);
    exact(CHECKS.changesStored, "changes", r.changes.storedReadBack, r.changes.acknowledged, "acknowledged changes read back");
  }
  exact(CHECKS.sends, "end to end (A→B)", r.endToEnd.acked, r.endToEnd.sent, "sends acknowledged");
  exact(CHECKS.deliveries, "end to end (A→B)", r.endToEnd.received, r.endToEnd.acked, "acknowledged sends received");
  for (const row of r.redisModes?.rows ?? []) {
    if (row.latency.failed > 0) throw new FigureRefused(CHECKS.sends, row.label, `${row.latency.failed} sends failed`);
    exact(CHECKS.stored, row.label, row.storedReadBack, row.acknowledged, "acknowledged sends read back");
  }
  exact(CHECKS.rows, "flush, raw cassandra-driver", r.flush.rawRowsCounted, r.flush.rows, "rows read back");
  exact(CHECKS.rows, "flush, flusher process", r.flush.flusherRowsCounted, r.flush.rows, "rows read back");
}

export function buildChecks(r: BenchResults): Check[] {
  requireSoundResults(r);
  const checks: Check[] = [];
  const fan = (stack: FanoutRow["stack"], size: number) => r.fanout.find((row) => row.stack === stack && row.roomSize === size);
  for (const size of [...new Set(r.fanout.map((row) => row.roomSize))]) {
    const ours = fan("ours", size);
    const uws = fan("uws", size);
    const sio = fan("socketio", size);
    if (!ours) continue;
    if (uws)
      checks.push(
        check({
          item: 1,
          what: `fan-out CPU/delivery, room ${size}, vs raw uWS`,
          ours: us(ours.cpuPerDeliveryInMicros),
          reference: us(uws.cpuPerDeliveryInMicros),
          value: ours.cpuPerDeliveryInMicros / uws.cpuPerDeliveryInMicros,
          unit: "×",
          kind: "max",
          limit: 1.25,
        }),
      );
    if (sio)
      checks.push(
        check({
          item: 1,
          what: `fan-out CPU/delivery, room ${size}, vs socket.io/ws`,
          ours: us(ours.cpuPerDeliveryInMicros),
          reference: us(sio.cpuPerDeliveryInMicros),
          value: ours.cpuPerDeliveryInMicros / sio.cpuPerDeliveryInMicros,
          unit: "×",
          kind: "max",
          limit: 0.2,
        }),
      );
  }
  for (const row of r.cluster) {
    checks.push(
      check({
        item: 2,
        what: `cluster CPU/delivery (2 nodes+Redis), room ${row.roomSize}`,
        ours: us(row.cpuPerDeliveryInMicros),
        reference: `${us(row.oneNodeCpuPerDeliveryInMicros)} (1 node+Redis)`,
        value: row.cpuPerDeliveryInMicros / row.oneNodeCpuPerDeliveryInMicros,
        unit: "×",
        kind: "max",
        limit: 1.5,
      }),
    );
  }
  const ours = r.memory.find((row) => row.stack === "ours");
  const sio = r.memory.find((row) => row.stack === "socketio");
  if (ours) {
    const at = `${ours.connections} idle conns`;
    const perConnection = [
      { what: "heap", bytes: (row: MemoryRow) => row.heapPerConnectionInBytes, limit: 4 },
      { what: "RSS", bytes: (row: MemoryRow) => row.rssPerConnectionInBytes, limit: 10 },
    ];
    for (const { what, bytes, limit } of perConnection) {
      checks.push(
        check({
          item: 3,
          what: `${what} per idle connection (${at})`,
          ours: kb(bytes(ours)),
          reference: sio ? `${kb(bytes(sio))} socket.io/ws` : "n/a",
          value: bytes(ours) / 1024,
          unit: "KB",
          kind: "max",
          limit,
        }),
      );
    }
  }
  const half = atOwnMaximum(r.ingest, 0.5);
  const high = atOwnMaximum(r.ingest, 0.8);
  if (half) {
    checks.push(
      check({
        item: 4,
        what: `ack p99 at 50 % of max (${r.ingest.maxAckedPerSecond.toFixed(0)} acked/s)`,
        ours: latencyDetail(half),
        reference: high ? `at 80 %: ${latencyDetail(high)}` : "n/a",
        value: half.ack.p99InMs,
        unit: "ms",
        kind: "max",
        limit: 5,
      }),
    );
  }
  checks.push(
    check({
      item: 5,
      what: `flusher rows/s vs raw cassandra-driver`,
      ours: `${r.flush.flusherRowsPerSecond.toFixed(0)} rows/s`,
      reference: `${r.flush.rawRowsPerSecond.toFixed(0)} rows/s raw (${Object.entries(r.flush.rawByStrategy)
        .map(([k, v]) => `${k} ${v.toFixed(0)}`)
        .join(", ")})`,
      value: r.flush.flusherRowsPerSecond / r.flush.rawRowsPerSecond,
      unit: "×",
      kind: "min",
      limit: 0.9,
    }),
  );
  checks.push(
    check({
      item: 6,
      what: `end to end A→B p99 at 50 % load`,
      ours: `p50 ${ms(r.endToEnd.latency.p50InMs)}, p99 ${ms(r.endToEnd.latency.p99InMs)}`,
      reference: `${r.endToEnd.offeredPerSecond.toFixed(0)} sends/s, ${r.endToEnd.received}/${r.endToEnd.acked} received`,
      value: r.endToEnd.latency.p99InMs,
      unit: "ms",
      kind: "max",
      limit: 10,
    }),
  );
  if (r.centrifugo) checks.push(...centrifugoChecks(r.fanout, r.ingest, r.centrifugo));
  return checks;
}

/**
 * Item 7, the issue's targets against Centrifugo with history, each a ratio in one run: CPU per
 * delivery including Redis ≤ 0.8× Centrifugo + its Redis per room size; maximum acknowledged
 * sends/s ≥ 1.2× its maximum publishes/s; ack p99 at the fixed rate ≤ its publish p99 there.
 * (Room 1000 ≤ 1.25× raw uWS is item 1's row.) A partial run (--only) passes what it measured:
 * no fan-out rows or no ingest of ours leaves those rows out.
 */
export function centrifugoChecks(fanout: readonly FanoutRow[], oursIngest: IngestResult | undefined, cf: CentrifugoResults): Check[] {
  const checks: Check[] = [];
  const fan = (stack: FanoutRow["stack"], size: number) => fanout.find((row) => row.stack === stack && row.roomSize === size);
  for (const size of [...new Set(fanout.map((row) => row.roomSize))]) {
    const ours = fan("ours", size);
    const peer = fan("centrifugo", size);
    const memory = fan("centrifugo-memory", size);
    if (ours?.cpuWithRedisPerDeliveryInMicros == null || peer?.cpuWithRedisPerDeliveryInMicros == null) continue;
    const reference = `${us(peer.cpuWithRedisPerDeliveryInMicros)} Centrifugo ${cf.version} + Redis (Centrifugo alone ${us(peer.cpuPerDeliveryInMicros)}; memory engine ${memory ? us(memory.cpuPerDeliveryInMicros) : "n/a"})`;
    checks.push(
      check({
        item: 7,
        what: `CPU+Redis/delivery, room ${size}, vs Centrifugo+Redis`,
        ours: `${us(ours.cpuWithRedisPerDeliveryInMicros)} (node alone ${us(ours.cpuPerDeliveryInMicros)})`,
        reference,
        value: ours.cpuWithRedisPerDeliveryInMicros / peer.cpuWithRedisPerDeliveryInMicros,
        unit: "×",
        kind: "max",
        limit: 0.8,
      }),
    );
  }
  const peerIngest = cf.ingest;
  if (!oursIngest) return checks;
  checks.push(
    check({
      item: 7,
      what: "max acked sends/s vs Centrifugo max publishes/s (history)",
      ours: `${oursIngest.maxAckedPerSecond.toFixed(0)}/s`,
      reference: `${peerIngest.maxAckedPerSecond.toFixed(0)}/s (Centrifugo CPU ${(peerIngest.nodeCpuUtilisation * 100).toFixed(0)} %, its Redis ${(peerIngest.redisCpuUtilisation * 100).toFixed(0)} %)`,
      value: oursIngest.maxAckedPerSecond / peerIngest.maxAckedPerSecond,
      unit: "×",
      kind: "min",
      limit: 1.2,
    }),
  );
  const ours = atFixedRate(oursIngest);
  const peer = atFixedRate(peerIngest);
  if (ours && peer) {
    const atOurHalf = peerIngest.points.find((p) => p.basis === "our maximum");
    const oursHalf = atOwnMaximum(oursIngest, 0.5);
    const reference = `${latencyDetail(peer)}${atOurHalf ? `; at ${describeRate(atOurHalf)}: ${latencyDetail(atOurHalf)} (ours at 50 %: ${oursHalf ? latencyDetail(oursHalf) : "n/a"})` : ""}`;
    checks.push(
      check({
        item: 7,
        what: `ack p99 at ${describeRate(ours)} vs Centrifugo publish p99`,
        ours: latencyDetail(ours),
        reference,
        value: ours.ack.p99InMs / peer.ack.p99InMs,
        unit: "×",
        kind: "max",
        limit: 1,
      }),
    );
  }
  return checks;
}

const ackLatencies = (p: LoadPoint | undefined) =>
  p ? `${p.ack.p50InMs.toFixed(2)} / ${p.ack.p99InMs.toFixed(2)} / ${p.ack.p999InMs.toFixed(2)}` : "–";
const offered = (p: LoadPoint | undefined) => (p ? `${p.offeredPerSecond.toFixed(0)}/s` : "–");

/**
 * Item 4's sends and changes in one row group, and what the peers have of them: acknowledged
 * operations per second at the closed-loop maximum, node CPU per operation there, and ack
 * latency at the fixed rate and at 50 % of the stack's own maximum. Changes are ours alone.
 */
export function ingestTable(ingest: IngestResult | undefined, changes: ChangesResult | null, centrifugo: CentrifugoResults | null): string {
  const lines = [
    "| stack | operation | max acked/s (closed loop) | node CPU µs per op at max | ack p50 / p99 / p99.9 ms at the fixed rate | ack p50 / p99 / p99.9 ms at 50 % of max | read back from Cassandra |",
    "|---|---|---|---|---|---|---|",
  ];
  const row = (stack: string, operation: string, r: Pick<IngestResult, "maxAckedPerSecond" | "points">, cpu: number, readBack: string) => {
    const fixed = atFixedRate(r as IngestResult);
    const half = r.points.find((p) => p.basis === "own maximum" && Math.abs(p.loadFraction - 0.5) < 1e-9);
    lines.push(
      `| ${stack} | ${operation} | ${r.maxAckedPerSecond.toFixed(0)} | ${cpu.toFixed(1)} | ${ackLatencies(fixed)} (${offered(fixed)}) | ${ackLatencies(half)} (${offered(half)}) | ${readBack} |`,
    );
  };
  if (ingest) row("ours", "send", ingest, ingest.nodeCpuPerSendInMicros, "every acknowledged send, once");
  if (changes)
    row(
      "ours",
      `change (edit and react alternately, to ${changes.targets} messages)`,
      changes,
      changes.nodeCpuPerChangeInMicros,
      `${changes.storedReadBack} / ${changes.acknowledged} changes in room_log; edited texts and reactions as acknowledged`,
    );
  if (centrifugo)
    row(
      `Centrifugo ${centrifugo.version} (Redis engine, history)`,
      "publish",
      centrifugo.ingest,
      centrifugo.ingest.nodeCpuPerSendInMicros,
      "–",
    );
  if (changes) {
    lines.push(
      `| Centrifugo, raw uWS | change | – | – | – | – | – |`,
      "",
      "Changes are ours only: Centrifugo has no edit, delete or reaction of a published message (a correction is another publication), and raw uWS has no acknowledgement at all.",
    );
  }
  return lines.join("\n");
}

export function fanoutTable(r: BenchResults): string {
  const lines = [
    "| stack | room | sends | deliveries (counted / expected) | server CPU µs/delivery (best round) | of it kernel | + Redis µs/delivery | idle floor µs/delivery | rounds |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of r.fanout) {
    lines.push(
      `| ${row.stack} | ${row.roomSize} | ${row.sends} | ${row.deliveries} / ${row.expectedDeliveries} | ${row.cpuPerDeliveryInMicros.toFixed(2)} | ${row.systemCpuPerDeliveryInMicros.toFixed(2)} | ${row.cpuWithRedisPerDeliveryInMicros === null ? "–" : row.cpuWithRedisPerDeliveryInMicros.toFixed(2)} | ${row.idleCpuPerDeliveryInMicros.toFixed(2)} | ${row.rounds.map((v) => v.toFixed(1)).join(", ")} |`,
    );
  }
  for (const row of r.cluster) {
    lines.push(
      `| ours, 2 nodes | ${row.roomSize} | ${row.sends} | ${row.deliveries} / ${row.expectedDeliveries} | – | – | ${row.cpuPerDeliveryInMicros.toFixed(2)} (${Object.entries(
        row.cpuByProcessInMicros,
      )
        .map(([name, micros]) => `${name} ${(micros / Math.max(1, row.deliveries)).toFixed(2)}`)
        .join(
          ", ",
        )}) | – | 2 nodes ${row.rounds.map((v) => v.cluster.toFixed(1)).join(", ")}; 1 node ${row.rounds.map((v) => v.oneNode.toFixed(1)).join(", ")} |`,
    );
  }
  return lines.join("\n");
}

export function machineLine(r: BenchResults): string {
  const m = r.machine;
  return `${m.cpuModel}, ${m.cores} cores (nproc), ${m.memory} RAM (free -h), Node ${m.node}, Linux ${m.kernel}`;
}

export function writeOutputs(r: BenchResults, checks: readonly Check[], paths: { json: string; png: string; readme: string }): void {
  writeFileSync(paths.json, `${JSON.stringify({ ...r, checks: checks.map((c) => ({ ...c, value: round(c.value, 4) })) }, null, 2)}\n`);
  const subtitle = `${r.mode} run ${r.startedAt} · ${machineLine(r)}`;
  writeFileSync(paths.png, renderPng(chartSvg(checks, "npm run bench: how close to the limit", subtitle)));
  const section = [
    "<!-- results:start (written by bench/run.ts; do not edit by hand) -->",
    `Latest run: **${r.mode}**, ${r.startedAt}, ${r.durationInSeconds.toFixed(0)} s.`,
    `Machine: ${machineLine(r)}; 1-minute load average ${r.loadAverages.atStart} at the start, ${r.loadAverages.atEnd} at the end (other work shared the machine).`,
    "",
    markdownTable(checks),
    "",
    "Ingest, sends and changes side by side (item 4; Centrifugo's publishes from item 7):",
    "",
    ingestTable(r.ingest, r.changes ?? null, r.centrifugo),
    "",
    "Fan-out detail (CPU time of the server process(es) in the measuring window, divided by the deliveries the clients counted):",
    "",
    fanoutTable(r),
    "",
    `Ingest: max ${r.ingest.maxAckedPerSecond.toFixed(0)} acked sends/s, node CPU ${(r.ingest.nodeCpuUtilisation * 100).toFixed(0)} % of a core (${r.ingest.nodeCpuPerSendInMicros.toFixed(1)} µs/send), Redis ${(r.ingest.redisCpuUtilisation * 100).toFixed(0)} %. ` +
      (r.centrifugo
        ? `Centrifugo ${r.centrifugo.version} with history (Redis engine): max ${r.centrifugo.ingest.maxAckedPerSecond.toFixed(0)} acked publishes/s, its CPU ${(r.centrifugo.ingest.nodeCpuUtilisation * 100).toFixed(0)} % of a core (${r.centrifugo.ingest.nodeCpuPerSendInMicros.toFixed(1)} µs/publish), its Redis ${(r.centrifugo.ingest.redisCpuUtilisation * 100).toFixed(0)} %. `
        : "") +
      `Flush: ${r.flush.rows} rows each way (read back: raw ${r.flush.rawRowsCounted}, flusher ${r.flush.flusherRowsCounted}), flusher CPU ${(r.flush.flusherCpuUtilisation * 100).toFixed(0)} % of a core while draining` +
      (r.flush.flusherBatches
        ? `; ${r.flush.flusherBatches.count} batches of ${r.flush.flusherBatches.meanRows.toFixed(0)} rows, ${r.flush.flusherBatches.meanWriteAndAckInMs.toFixed(1)} ms write + ack each, ${(r.flush.flusherBatches.shareOfDrain * 100).toFixed(0)} % of the drain time.`
        : "."),
    "",
    `CPU placement while measuring latency (items 4 and 6): ${r.latencyPlacement ? `socket nodes and Redis on CPU ${r.latencyPlacement.measured.join(",")}; load generators, flusher, the bench driver and Cassandra (at nice 19) on CPU ${r.latencyPlacement.rest.join(",")} (bench/lib/cpu-placement.ts)` : "none (one CPU)"}. ` +
      `Machine load while measuring latency: ${r.ingest.points.map((p) => `at ${describeRate(p)} the node's main thread waited for a CPU ${(p.nodeRunQueueWaitShare * 100).toFixed(0)} % of the time (Redis ${(p.redisRunQueueWaitShare * 100).toFixed(0)} %, load average ${p.loadAverage})`).join("; ")}; ` +
      `end to end: node A ${(r.endToEnd.runQueueWaitShares.nodeA * 100).toFixed(0)} %, node B ${(r.endToEnd.runQueueWaitShares.nodeB * 100).toFixed(0)} %, Redis ${(r.endToEnd.runQueueWaitShares.redis * 100).toFixed(0)} %` +
      (r.changes
        ? `; changes: ${r.changes.points.map((p) => `at ${describeRate(p)} node ${(p.nodeRunQueueWaitShare * 100).toFixed(0)} %, Redis ${(p.redisRunQueueWaitShare * 100).toFixed(0)} % (load average ${p.loadAverage})`).join("; ")}`
        : "") +
      (r.centrifugo
        ? `; Centrifugo ${r.centrifugo.version} (same placement): ${r.centrifugo.ingest.points.map((p) => `at ${describeRate(p)} its threads waited ${(p.nodeRunQueueWaitShare * 100).toFixed(0)} % of the window in sum (its Redis ${(p.redisRunQueueWaitShare * 100).toFixed(0)} %)`).join("; ")}`
        : "") +
      " (from /proc/<pid>/schedstat).",
    ...(r.redisModes
      ? [
          "",
          `Ingest by Redis mode (item 8; one node per mode; Redis Cluster of ${r.redisModes.primaries} primaries with ${r.redisModes.replicasPerPrimary} replica each on this same machine; latency open loop at ${r.redisModes.offeredPerSecond.toFixed(0)} sends/s for every mode, 50 % of the slowest mode's maximum; the mode's node and Redis processes on CPU ${r.redisModes.placement?.measured.join(",") ?? "any"}):`,
          "",
          redisModesTable(r.redisModes),
        ]
      : []),
    "",
    "![results](results.png)",
    "<!-- results:end -->",
  ].join("\n");
  const readme = existsSync(paths.readme) ? readFileSync(paths.readme, "utf8") : "";
  const marked = /<!-- results:start[\s\S]*?<!-- results:end -->/;
  writeFileSync(paths.readme, marked.test(readme) ? readme.replace(marked, () => section) : `${readme}\n## Latest results\n\n${section}\n`);
}
