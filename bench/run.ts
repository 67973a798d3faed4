/**
 * `npm run bench [-- --quick]`: every stack side by side in one run on this machine.
 *
 * Starts Redis + Cassandra (free ports, a tmp dir, a keyspace and key prefix of the run's own),
 * then measures, each against its reference in the same run: fan-out CPU per delivery (ours,
 * raw uWS, socket.io on ws), the two-node cluster, memory per idle connection, durable ingest
 * and ack latency, flusher vs raw Cassandra, end-to-end latency across two nodes, and Centrifugo
 * with history (fan-out CPU with and without Redis, publish maximum and ack latency). Prints
 * the table, writes bench/results.json, bench/results.png and the results section of
 * bench/README.md. Everything it started is stopped on exit, on failure and on Ctrl-C.
 *
 * This file is the sequence of the parts; cli.ts reads the command line, lifecycle.ts owns
 * cleanup, stack.ts starts what the parts share, parts/ run them, profiling.ts does --profile.
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseBenchArguments } from "./cli.js";
import { markdownTable } from "./lib/checks.js";
import { FigureRefused } from "./lib/integrity.js";
import { describeMachine } from "./lib/machine.js";
import { loadAverage, startOurNode } from "./lib/servers.js";
import { cleanupStack, raiseFileLimit, removeRunData, runLog } from "./lifecycle.js";
import { runCentrifugoPart, runRedisModesPart } from "./parts/comparisons.js";
import { runClusterPart, runFanoutPart } from "./parts/fanout.js";
import { runIngestPart } from "./parts/ingest.js";
import { runFlushPart, runMemoryPart } from "./parts/standalone.js";
import { profiler, writeProfileSummary } from "./profiling.js";
import { buildChecks, centrifugoChecks, fanoutTable, ingestTable, writeOutputs, type BenchResults } from "./report.js";
import type { MemoryRow } from "./scenarios/memory.js";
import { startBenchStack, stopped, type BenchRun } from "./stack.js";

/** Where results.json, results.png and README.md go: the source bench/ folder, not dist/. */
const BENCH_SOURCE_DIR = fileURLToPath(new URL("../../bench/", import.meta.url));

const parsed = parseBenchArguments(process.argv.slice(2));
if ("error" in parsed) {
  console.error(parsed.error);
  process.exit(2);
}
const { settings, only, wanted, profiling } = parsed;
const runStarted = performance.now();
const log = runLog(runStarted);
const { onCleanup, cleanUp } = cleanupStack();
/** The run's directory, once created: its store data is removed after a successful run, its logs kept. */
let runDir: string | undefined;

async function main(): Promise<void> {
  raiseFileLimit(log);
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  const dir = mkdtempSync(join(tmpdir(), "chat-bench-"));
  runDir = dir;
  log(`${settings.mode} run${profiling ? " with profiling" : ""}; logs and data in ${dir}`);
  const profileDir = profiling ? join(dir, "profiles") : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const run: BenchRun = { settings, wanted, dir, log, onCleanup, profiled: profiler(profileDir), profileDir };

  const stack = await startBenchStack(run);
  const { fanout, oneNode } = await runFanoutPart(run, stack);
  // Node B starts after the fan-out, which measures one node alone.
  const nodeB = onCleanup(await startOurNode("bench-b", stack.env, dir), stopped);
  const cluster = await runClusterPart(run, stack, nodeB, oneNode);
  const { ingest, endToEnd, changes, latencyPlacement } = await runIngestPart(run, stack, nodeB);
  const centrifugo = await runCentrifugoPart(run, stack, nodeB, ingest);
  const redisModes = await runRedisModesPart(run, stack, nodeB);
  await Promise.all(stack.generators.map((g) => g.close()));
  stack.generators.forEach((g) => g.stop());
  await Promise.all([stack.nodeA.stop(), nodeB.stop(), stack.flusher.stop()]);
  const memory = await runMemoryPart(run, stack);
  const flush = await runFlushPart(run, stack);

  if (only) {
    // A partial run has no table: its figures are the lines logged above, and Centrifugo's
    // ratios to whatever of ours was measured with it (e.g. --only=fanout,ingest,centrifugo).
    if (centrifugo) {
      const partial = centrifugoChecks(fanout, ingest, centrifugo);
      if (partial.length > 0) console.log(`\n${markdownTable(partial)}\n`);
    }
    if (ingest || changes) console.log(`\n${ingestTable(ingest, changes ?? null, centrifugo)}\n`);
    if (profileDir) profileSummary(profileDir, memory, startedAt);
    return;
  }
  const results: BenchResults = {
    mode: settings.mode,
    startedAt,
    durationInSeconds: (performance.now() - runStarted) / 1000,
    machine: describeMachine(),
    loadAverages: { atStart: loadAtStart, atEnd: loadAverage() },
    fanout,
    cluster,
    memory,
    ingest: ingest!,
    endToEnd: endToEnd!,
    flush: flush!,
    latencyPlacement,
    centrifugo,
    redisModes,
    changes: changes ?? null,
  };
  const checks = buildChecks(results);
  console.log(
    `\n${markdownTable(checks)}\n\n${ingestTable(results.ingest, results.changes ?? null, results.centrifugo)}\n\n${fanoutTable(results)}\n`,
  );
  log(`${checks.filter((c) => c.met).length}/${checks.length} targets met`);
  // A profiled run's figures are perturbed by the profiler: they do not replace the published ones.
  if (!profileDir) {
    writeOutputs(results, checks, {
      json: join(BENCH_SOURCE_DIR, "results.json"),
      png: join(BENCH_SOURCE_DIR, "results.png"),
      readme: join(BENCH_SOURCE_DIR, "README.md"),
    });
    log("wrote bench/results.json, bench/results.png, bench/README.md");
  }
  if (profileDir) profileSummary(profileDir, memory, startedAt);
}

function profileSummary(profileDir: string, memory: readonly MemoryRow[], startedAt: string): void {
  const heading = `${settings.mode} run ${startedAt} with --profile${only ? ` (--only=${[...only].join(",")})` : ""}`;
  writeProfileSummary(profileDir, memory, heading, join(BENCH_SOURCE_DIR, "profile.txt"));
  log("wrote bench/profile.txt");
}

try {
  await main();
} catch (error) {
  // A refused figure is a finding about the server, not a bench crash: its message names the
  // check and the window, and no table, results.json or chart is written.
  if (error instanceof FigureRefused) console.error(`bench refused to report figures from a broken run: ${error.message}`);
  else console.error("bench failed:", error);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
if (runDir && process.exitCode !== 1) removeRunData(runDir, profiling);
