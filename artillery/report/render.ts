/**
 * The report a person reads after a suite: summary.md (verdict, client-side figures, first vs
 * last minute, server-side figures per process) and PNG charts of latency, throughput and the
 * server's memory, event-loop lag, connections and stream backlog over time.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import {
  PERIOD_IN_MS,
  firstAndLastWindows,
  rateSeries,
  readArtilleryJson,
  summarySeries,
  windowPercentile,
  type ArtilleryResult,
  type MetricsBlock,
} from "./artillery-json.js";
import { writeChart, type Panel, type Series } from "./charts.js";
import type { ServerSample } from "./sampler.js";
import { phaseEnds, phaseFigures, phaseStarts, type PhaseStart } from "./phases.js";
import { cohortSection } from "./cohort-section.js";
import { nodeSendsBetween, serverAckPerPhase, type ServerPhaseAck } from "./server-per-phase.js";
import { bySource, serverFigures, type ServerFigures } from "./server-figures.js";
import { cpuSection, cpuWindows } from "./cpu-budget.js";
import type { CpuRecord } from "./cpu-sampler.js";

// eslint-disable-next-line no-control-regex -- matches the ESC byte that starts a terminal colour code
const ANSI_COLOUR = /\u001b\[[0-9;]*m/g;

export interface ReportInput {
  suite: string;
  suiteFile: string;
  target: string;
  targetDescription: string;
  scrapeDescription: string;
  artilleryJsonFile: string;
  artilleryLog: string;
  artilleryExitCode: number;
  serverSamples: ServerSample[];
  scrapeFailures: Map<string, number>;
  /** The CPU samples (cpu-sampler.ts); undefined for a report saved before they were taken. */
  cpu: CpuRecord | undefined;
  reportDir: string;
  startedAt: number;
}

/** The generator's event loop p99 above which its latency figures are suspect. */
const GENERATOR_LAG_WARNING_MS = 50;

/** What a report folder keeps besides Artillery's files, so that `load.js report <dir>` can render it again. */
interface RunRecord {
  suite: string;
  suiteFile: string;
  target: string;
  targetDescription: string;
  scrapeDescription: string;
  artilleryExitCode: number;
  startedAt: number;
  scrapeFailures: [string, number][];
}

/** Writes the report and returns the path of summary.md. */
export async function renderReport(input: ReportInput): Promise<string> {
  const record: RunRecord = {
    suite: input.suite,
    suiteFile: input.suiteFile,
    target: input.target,
    targetDescription: input.targetDescription,
    scrapeDescription: input.scrapeDescription,
    artilleryExitCode: input.artilleryExitCode,
    startedAt: input.startedAt,
    scrapeFailures: [...input.scrapeFailures],
  };
  writeFileSync(join(input.reportDir, "run.json"), JSON.stringify(record, null, 1));
  // Infinity (the +Inf bucket) does not survive JSON, hence the string keys.
  writeFileSync(
    join(input.reportDir, "server-samples.json"),
    JSON.stringify(
      input.serverSamples.map((s) => ({
        ...s,
        ackBuckets: Object.fromEntries([...s.ackBuckets].map(([le, count]) => [String(le), count])),
      })),
      null,
      1,
    ),
  );
  if (input.cpu) writeFileSync(join(input.reportDir, "cpu-samples.json"), JSON.stringify(input.cpu));
  let result: ArtilleryResult | undefined;
  let readError: string | undefined;
  try {
    result = readArtilleryJson(input.artilleryJsonFile);
  } catch (error) {
    readError = error instanceof Error ? error.message : String(error);
  }
  // Time zero of the charts: the earlier of Artillery's first period and the first /metrics sample.
  const origin = Math.min(
    result?.intermediate[0]?.period ?? Infinity,
    ...input.serverSamples.map((sample) => sample.at),
    input.startedAt + 3_600_000,
  );
  const steady = steadyWindow(input);
  const servers = [...bySource(input.serverSamples)].map(([source, samples]) => serverFigures(source, samples, steady?.window));
  const charts = result ? writeCharts(input, result, origin) : [];
  const summaryFile = join(input.reportDir, "summary.md");
  writeFileSync(summaryFile, summaryMarkdown(input, result, readError, servers, charts, steady?.label ?? "2nd half"));
  return summaryFile;
}

/** Renders a report folder again from what its run saved (after a change to the report code). */
export async function rerenderReport(reportDir: string): Promise<string> {
  const record = JSON.parse(readFileSync(join(reportDir, "run.json"), "utf8")) as RunRecord;
  const samples = JSON.parse(readFileSync(join(reportDir, "server-samples.json"), "utf8")) as (Omit<ServerSample, "ackBuckets"> & {
    ackBuckets: Record<string, number>;
  })[];
  return renderReport({
    ...record,
    artilleryJsonFile: join(reportDir, "artillery.json"),
    artilleryLog: readFileSync(join(reportDir, "artillery.log"), "utf8"),
    serverSamples: samples.map((sample) => ({
      ...sample,
      ackBuckets: new Map(Object.entries(sample.ackBuckets).map(([le, count]) => [Number(le), count])),
    })),
    scrapeFailures: new Map(record.scrapeFailures),
    cpu: existsSync(join(reportDir, "cpu-samples.json"))
      ? (JSON.parse(readFileSync(join(reportDir, "cpu-samples.json"), "utf8")) as CpuRecord)
      : undefined,
    reportDir,
  });
}

/**
 * Where to measure drift: the last phase (a soak's steady phase) from its second minute (users
 * are still coming online in the first) to the end of its arrivals (the drain after it frees memory).
 */
function steadyWindow(input: ReportInput): { window: [number, number]; label: string } | undefined {
  const starts = phaseStarts(input.artilleryLog, input.startedAt);
  const ends = phaseEnds(input.artilleryLog, input.startedAt);
  const last = starts[starts.length - 1];
  const end = ends[ends.length - 1];
  if (!last || !end || end.startedAt - last.startedAt < 3 * 60_000) return undefined;
  return { window: [last.startedAt + 60_000, end.startedAt], label: `"${last.name}" after its 1st minute` };
}

function writeCharts(input: ReportInput, result: ArtilleryResult, origin: number): string[] {
  const latency: Panel[] = [
    {
      title: "Ack latency (send → ack)",
      unit: "ms",
      series: [
        s("p50", summarySeries(result, origin, "chat.ack_latency", "p50")),
        s("p99", summarySeries(result, origin, "chat.ack_latency", "p99")),
        s("max", summarySeries(result, origin, "chat.ack_latency", "max")),
      ],
    },
    {
      title: "Broadcast latency (send → receipt by another user)",
      unit: "ms",
      series: [
        s("p50", summarySeries(result, origin, "chat.broadcast_latency", "p50")),
        s("p99", summarySeries(result, origin, "chat.broadcast_latency", "p99")),
        s("max", summarySeries(result, origin, "chat.broadcast_latency", "max")),
      ],
    },
  ];
  const throughput: Panel[] = [
    {
      title: "Sends",
      unit: "per second",
      series: [
        s("sent", rateSeries(result, origin, "chat.messages_sent")),
        s("acknowledged", rateSeries(result, origin, "chat.messages_acked")),
        s("changes acknowledged", rateSeries(result, origin, "chat.changes_acked")),
      ],
    },
    {
      title: "Deliveries (message events received)",
      unit: "per second",
      series: [
        s("received", rateSeries(result, origin, "chat.messages_received")),
        s("live duplicates", rateSeries(result, origin, "chat.messages_duplicated")),
      ],
    },
    {
      title: "Virtual users online",
      unit: "users",
      series: [s("connected (max per period)", summarySeries(result, origin, "loadgen.connected_users", "max"))],
    },
    {
      title: "Arrivals and failures",
      unit: "per second",
      series: [
        s("arrivals", rateSeries(result, origin, "vusers.created")),
        s("failed", rateSeries(result, origin, "vusers.failed")),
        s("lost messages", rateSeries(result, origin, "chat.messages_lost")),
        s("lost changes", rateSeries(result, origin, "chat.changes_lost")),
      ],
    },
  ];
  const groups = bySource(input.serverSamples);
  const serverSeries = (pick: (sample: ServerSample) => number | undefined, scale = 1): Series[] =>
    [...groups].map(([source, samples]) =>
      s(
        source,
        samples.map((sample) => [sample.at - origin, (pick(sample) ?? NaN) * scale] as [number, number]),
      ),
    );
  const server: Panel[] = [
    { title: "Resident memory (RSS)", unit: "MB", series: serverSeries((x) => x.rssBytes, 1 / 2 ** 20) },
    { title: "Event-loop lag", unit: "ms", series: serverSeries((x) => x.eventLoopLagSeconds, 1000) },
    { title: "Connections", unit: "sockets", series: serverSeries((x) => x.connections).filter(hasData) },
    { title: "Stream backlog", unit: "entries", series: serverSeries((x) => x.streamBacklog).filter(hasData) },
  ];
  const files: [string, string, Panel[]][] = [
    ["latency.png", `${input.suite}: latency per 10-s period`, latency],
    ["throughput.png", `${input.suite}: throughput and users per 10-s period`, throughput],
  ];
  if (groups.size > 0) files.push(["server.png", `${input.suite}: server side (/metrics every few seconds)`, server]);
  for (const [file, title, panels] of files) writeChart(join(input.reportDir, file), title, panels);
  return files.map(([file]) => file);
}

function s(name: string, points: [number, number][]): Series {
  return { name, points };
}

function hasData(series: Series): boolean {
  return series.points.some(([, y]) => Number.isFinite(y));
}

function summaryMarkdown(
  input: ReportInput,
  result: ArtilleryResult | undefined,
  readError: string | undefined,
  servers: ServerFigures[],
  charts: string[],
  steadyLabel: string,
): string {
  const checks = ensureVerdicts(input.artilleryLog);
  const passed = input.artilleryExitCode === 0 && !readError;
  // Read from the log once: the per-phase sections and the CPU table share the phases and the nodes' figures.
  const starts = phaseStarts(input.artilleryLog, input.startedAt);
  const serverAck = serverAckPerPhase(input.serverSamples, starts);
  const lines: string[] = [];
  lines.push(`# Load report: ${input.suite} — ${passed ? "PASS" : "FAIL"}`, "");
  lines.push(`- suite: \`${relative(process.cwd(), input.suiteFile)}\``);
  lines.push(`- started: ${new Date(input.startedAt).toISOString()}`);
  if (result)
    lines.push(`- traffic: ${fmtDuration(result.aggregate.lastMetricAt - result.aggregate.firstMetricAt)} (first to last metric)`);
  lines.push(`- target: ${input.target} (${input.targetDescription})`);
  lines.push(`- server metrics: ${input.scrapeDescription}`);
  lines.push(
    `- Artillery exit code: ${input.artilleryExitCode}${input.artilleryExitCode === 0 ? "" : " (an ensure check failed, or the run broke: see artillery.log)"}`,
  );
  lines.push("");
  if (readError) lines.push(`**No Artillery results:** ${readError}`, "");

  lines.push("## Checks (`ensure`)", "");
  if (checks.length === 0) lines.push("Artillery printed no ensure verdicts (see artillery.log).");
  for (const check of checks) lines.push(`- ${check.ok ? "✅ ok" : "❌ fail"}: \`${check.expression}\``);
  lines.push("");

  if (result) {
    const generatorLag = result.aggregate.summaries["loadgen.event_loop_delay_p99"]?.max;
    if (generatorLag !== undefined && generatorLag > GENERATOR_LAG_WARNING_MS) {
      lines.push(
        `> **Note:** the load generator's own event loop lagged up to ${generatorLag.toFixed(0)} ms (p99 per 5 s): client-side latencies include that much of Artillery's own delay. The generator shares this machine's cores with the cluster.`,
        "",
      );
    }
    lines.push(...clientSection(result));
    lines.push(...phaseSection(result, starts, serverAck));
    lines.push(...cohortSection(input.suiteFile, result.aggregate, serverAck));
    lines.push(...windowSection(result, input, starts));
  }
  lines.push(...serverSection(servers, input.scrapeFailures, steadyLabel));
  if (input.cpu) {
    const nodeSends = (from: number, to: number) => nodeSendsBetween(input.serverSamples, from, to);
    lines.push(...cpuSection(input.cpu, cpuWindows(input.cpu, result, starts, nodeSends)));
    if (!result) lines.push("Acked sends here are the nodes' own count (chat_messages_in_total): Artillery's results are missing.", "");
  }
  if (charts.length > 0) {
    lines.push("## Charts", "");
    for (const chart of charts) lines.push(`![${chart}](${chart})`, "");
  }
  lines.push(
    "## Files",
    "",
    "- `artillery.json`: Artillery's --output (aggregate and 10-second periods)",
    "- `artillery.log`: Artillery's console output",
    "- `server-samples.json`: the /metrics samples",
    ...(input.cpu ? ["- `cpu-samples.json`: the /proc CPU samples (each listed process and the machine)"] : []),
    "",
  );
  return lines.join("\n");
}

function clientSection(result: ArtilleryResult): string[] {
  const c = result.aggregate.counters;
  const n = (name: string) => c[name] ?? 0;
  const errors = Object.entries(c).filter(([name]) => name.startsWith("chat.errors.") || name.startsWith("errors."));
  const lines = ["## Client side (Artillery + processor)", "", "| figure | value |", "|---|---|"];
  lines.push(`| virtual users created / completed / failed | ${n("vusers.created")} / ${n("vusers.completed")} / ${n("vusers.failed")} |`);
  lines.push(`| messages sent / acknowledged | ${n("chat.messages_sent")} / ${n("chat.messages_acked")} |`);
  lines.push(`| deliveries received (live, first copy) | ${n("chat.messages_received")} |`);
  lines.push(`| deliveries owed by the ledger / **lost** | ${n("chat.messages_expected")} / **${n("chat.messages_lost")}** |`);
  lines.push(`| live duplicates (same seq twice) | ${n("chat.messages_duplicated")} |`);
  if (n("chat.changes_sent") > 0 || "chat.changes_lost" in c) {
    lines.push(
      `| changes sent / acknowledged (edits / deletes / reactions) | ${n("chat.changes_sent")} / ${n("chat.changes_acked")} (${n("chat.changes_acked.edit")} / ${n("chat.changes_acked.delete")} / ${n("chat.changes_acked.react")}) |`,
    );
    lines.push(
      `| changes checked in the rooms' history / **changes lost** (acknowledged, not shown there) | ${n("chat.changes_verified")} / **${n("chat.changes_lost")}** |`,
    );
    if (n("chat.changes_unverifiable") > 0)
      lines.push(`| reactions history could not confirm (over 25 reactors with the emoji) | ${n("chat.changes_unverifiable")} |`);
    lines.push(
      `| change deliveries owed by the ledger / **lost** | ${n("chat.change_deliveries_expected")} / **${n("chat.change_deliveries_lost")}** |`,
    );
    lines.push(`| live change duplicates (same seq twice) | ${n("chat.changes_duplicated")} |`);
  }
  if (n("chat.unexpected_duplicate_acks") > 0)
    lines.push(`| acks marked duplicate for a new clientId | ${n("chat.unexpected_duplicate_acks")} |`);
  if (n("chat.reconnects") > 0 || n("chat.reconnect_retries") > 0) {
    lines.push(`| storm: reconnects / handshake retries | ${n("chat.reconnects")} / ${n("chat.reconnect_retries")} |`);
    lines.push(
      `| storm: messages caught up by \`join { since }\` / seqs still missing after it | ${n("chat.caught_up_messages")} / ${n("chat.storm_gaps")} |`,
    );
    lines.push(`| storm: caught-up messages that also arrived live (expected overlap, not duplicates) | ${n("chat.catch_up_overlaps")} |`);
  }
  for (const [name, value] of errors) lines.push(`| ${name} | ${value} |`);
  const peak = (counter: string) => Math.max(0, ...result.intermediate.map((b) => (b.counters[counter] ?? 0) / 10)).toFixed(1);
  const traffic = Math.max(1, (result.aggregate.lastMetricAt - result.aggregate.firstMetricAt) / 1000);
  const mean = (counter: string) => (n(counter) / traffic).toFixed(1);
  lines.push(
    `| acked sends/s / acked changes/s (mean over the traffic) | ${mean("chat.messages_acked")} / ${mean("chat.changes_acked")} |`,
  );
  lines.push(`| peak acked sends/s / changes/s (10-s period) | ${peak("chat.messages_acked")} / ${peak("chat.changes_acked")} |`);
  lines.push("", "| latency, ms | count | p50 | p95 | p99 | max |", "|---|---|---|---|---|---|");
  for (const [label, metric] of [
    ["ack (send → ack)", "chat.ack_latency"],
    ["change ack (edit, delete or react → ack)", "chat.change_ack_latency"],
    ["broadcast (send → receipt by another user)", "chat.broadcast_latency"],
    ["connect (handshake through the gateway)", "chat.connect_latency"],
    ["join", "chat.join_latency"],
    ["storm reconnect + catch-up", "chat.reconnect_latency"],
  ] as const) {
    const summary = result.aggregate.summaries[metric];
    if (summary) lines.push(`| ${label} | ${summary.count} | ${summary.p50} | ${summary.p95} | ${summary.p99} | ${summary.max} |`);
  }
  lines.push("");
  return lines;
}

function phaseSection(result: ArtilleryResult, starts: readonly PhaseStart[], serverAckPhases: readonly ServerPhaseAck[]): string[] {
  const phases = phaseFigures(result, starts);
  if (phases.length === 0) return [];
  const serverAck = new Map(serverAckPhases.map((phase) => [phase.name, phase]));
  const f = (value: number | undefined, digits = 1) => (value === undefined ? "–" : value.toFixed(digits));
  const p99 = (window: { mean: number; worst: number } | undefined) => (window ? `${f(window.mean, 0)} / ${f(window.worst, 0)}` : "–");
  const lines = [
    "## Per phase",
    "",
    "Rates are per second over the phase's 10-s periods; p99 is the count-weighted mean / the worst of the periods' p99 (ms). The last phase includes the drain after the last arrival. Server ack p99: the nodes' own chat_ack_latency_seconds over the phase (from its start to the next one's), without the generator's delay; interpolated within the histogram's buckets (server-per-phase.ts).",
    "",
    "| phase | periods | arrivals/s | acked sends/s | acked changes/s | deliveries/s | users online (max) | ack p99 | server ack p99, ms | broadcast p99 | generator lag (worst p99, ms) | failed users |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const x of phases) {
    lines.push(
      `| ${x.name} | ${x.periods} | ${f(x.arrivalsPerSecond)} | ${f(x.ackedPerSecond)} | ${f(x.changesAckedPerSecond)} | ${f(x.receivedPerSecond, 0)} | ${f(x.usersOnlineMax, 0)} | ${p99(x.ackP99)} | ${f(serverAck.get(x.name)?.p99Ms)} | ${p99(x.broadcastP99)} | ${f(x.generatorLagWorstMs, 0)} | ${x.failed} |`,
    );
  }
  lines.push("");
  return lines;
}

/**
 * First vs last minute, the soak's drift check. The last minute is the one before the last
 * phase's arrivals ended, so the drain after it (users finishing, fewer senders) does not
 * count; the first minute of that phase is shown too, for a soak's steady phase.
 */
function windowSection(result: ArtilleryResult, input: ReportInput, starts: readonly PhaseStart[]): string[] {
  const ends = phaseEnds(input.artilleryLog, input.startedAt);
  const lastPhase = starts[starts.length - 1];
  const lastEnd = ends[ends.length - 1]?.startedAt;
  const inside = (from: number, to: number) => result.intermediate.filter((b) => b.period >= from && b.period + PERIOD_IN_MS <= to);
  const columns: [string, MetricsBlock[]][] = [["first minute of traffic", firstAndLastWindows(result, "chat.ack_latency", 60_000).first]];
  if (lastPhase && starts.length > 1)
    columns.push([`first minute of "${lastPhase.name}"`, inside(lastPhase.startedAt, lastPhase.startedAt + 60_000)]);
  columns.push(
    lastEnd === undefined
      ? ["last minute of traffic", firstAndLastWindows(result, "chat.ack_latency", 60_000).last]
      : [`last minute of "${ends[ends.length - 1]!.name}"`, inside(lastEnd - 60_000, lastEnd)],
  );
  const lines = [
    "## First vs last minute",
    "",
    "p99 per 10-s period over the minute (whole periods only): count-weighted mean / worst period, ms.",
    "",
    `| metric | ${columns.map(([label]) => label).join(" | ")} |`,
    `|---|${columns.map(() => "---|").join("")}`,
  ];
  for (const [label, metric] of [
    ["ack p99", "chat.ack_latency"],
    ["broadcast p99", "chat.broadcast_latency"],
  ] as const) {
    lines.push(`| ${label} | ${columns.map(([, blocks]) => windowCell(blocks, metric)).join(" | ")} |`);
  }
  const rate = (blocks: MetricsBlock[], counter: string) =>
    blocks.length ? (blocks.reduce((sum, b) => sum + (b.counters[counter] ?? 0), 0) / (blocks.length * 10)).toFixed(1) : "–";
  const total = (blocks: MetricsBlock[], counter: string) => blocks.reduce((sum, b) => sum + (b.counters[counter] ?? 0), 0);
  lines.push(`| acked sends/s | ${columns.map(([, blocks]) => rate(blocks, "chat.messages_acked")).join(" | ")} |`);
  lines.push(`| acked changes/s | ${columns.map(([, blocks]) => rate(blocks, "chat.changes_acked")).join(" | ")} |`);
  lines.push(`| lost messages | ${columns.map(([, blocks]) => total(blocks, "chat.messages_lost")).join(" | ")} |`);
  lines.push(`| lost changes | ${columns.map(([, blocks]) => total(blocks, "chat.changes_lost")).join(" | ")} |`, "");
  return lines;
}

function windowCell(blocks: MetricsBlock[], metric: string): string {
  const window = windowPercentile(blocks, metric);
  return window ? `${window.mean.toFixed(1)} / ${window.worst.toFixed(1)} (n=${window.count})` : "–";
}

function serverSection(servers: ServerFigures[], failures: Map<string, number>, steadyLabel: string): string[] {
  const lines = ["## Server side (/metrics)", ""];
  if (servers.length === 0) lines.push("No /metrics sample was taken.", "");
  else {
    const f = (value: number | undefined, digits = 1) => (value === undefined ? "–" : value.toFixed(digits));
    lines.push(
      `| process | samples | RSS start → end (max), MB | RSS slope, MB/min (whole run / ${steadyLabel}) | event-loop lag mean / max, ms | connections max | stream backlog max / end | messages in | errors | server ack p99, ms |`,
      "|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const x of servers) {
      lines.push(
        `| ${x.source} | ${x.samples} | ${f(x.rssStartMb)} → ${f(x.rssEndMb)} (${f(x.rssMaxMb)}) | ${f(x.rssSlopeMbPerMinute, 2)} / ${f(x.rssSlopeSteadyMbPerMinute, 2)} | ${f(x.eventLoopLagMeanMs)} / ${f(x.eventLoopLagMaxMs)} | ${f(x.connectionsMax, 0)} | ${f(x.streamBacklogMax, 0)} / ${f(x.streamBacklogEnd, 0)} | ${f(x.messagesIn, 0)} | ${f(x.errors, 0)} | ${f(x.ackP99Ms)} |`,
      );
    }
    lines.push(
      "",
      'Server ack p99 comes from the chat_ack_latency_seconds histogram (first to last sample, interpolated within buckets); "–" where a process does not export the metric.',
      "",
    );
  }
  if (failures.size > 0) {
    lines.push("Failed scrapes:", "");
    for (const [what, count] of failures) lines.push(`- ${count}× ${what}`);
    lines.push("");
  }
  return lines;
}

/** The ensure plugin prints `ok: <check>` / `fail: <check>` (with colour codes) before Artillery exits. */
export function ensureVerdicts(log: string): { ok: boolean; expression: string }[] {
  const plain = /* ANSI colour codes in Artillery's output */ log.replace(ANSI_COLOUR, "");
  const verdicts: { ok: boolean; expression: string }[] = [];
  for (const match of plain.matchAll(/^(ok|fail): (.+?)( \(optional\))?$/gm))
    verdicts.push({ ok: match[1] === "ok", expression: match[2]! });
  return verdicts;
}

function fmtDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds >= 120 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${seconds} s`;
}
