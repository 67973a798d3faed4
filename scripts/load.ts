/**
 * `npm run load:<suite>`: runs an Artillery suite (artillery/<suite>.yml) against the chat
 * cluster and writes a report a person reads (artillery/reports/<suite>-<timestamp>/).
 *
 * Target: TARGET when set; else the cluster answering on http://127.0.0.1:8080 (`npm start`);
 * else this script starts a whole local cluster itself on free ports in a temporary directory
 * (Redis, Cassandra, two socket nodes, a flusher, HAProxy: the bring-up of `npm start`) and
 * stops it afterwards, so the suite runs on a fresh machine and in CI with nothing else up.
 *
 * Server-side figures: while Artillery runs, /metrics is sampled every LOAD_SAMPLE_SECONDS
 * (5) from each process directly, never through the gateway (it answers /metrics 404: node
 * metrics are not public): the nodes and the flusher when this script started the cluster;
 * else the URLs in LOAD_METRICS_URLS (comma-separated) when given; else, for the cluster of
 * `npm start`, the node ports in the gateway config it wrote (artillery/report/node-metrics.ts);
 * else none (the report says so).
 *
 * Where the CPU went: every second, the CPU time of each process of the local cluster (when this
 * script started it), of Artillery and of this script, and the machine's busy time, from /proc
 * (artillery/report/cpu-sampler.ts); the report's "Where the CPU went" table, cpu-samples.json.
 *
 * Environment: TARGET, CHAT_JWT_SECRET (else the dev default that `npm start` uses),
 * SOAK_MINUTES (the soak's steady phase; default: as in soak.yml, 60), LOAD_METRICS_URLS,
 * LOAD_SAMPLE_SECONDS, LOAD_ALLOW_REMOTE_TARGET=1 (TARGET must be a loopback address
 * otherwise: a load test must never hit a host by accident), LOAD_CPU_PROFILE=1 (writes a
 * V8 CPU profile of Artillery's main thread and of each worker thread to <report>/cpu-profiles/,
 * for Chrome DevTools or `node dist/artillery/report/cpu-profile.js <file>`).
 * Exit code: Artillery's (non-zero when an `ensure` check failed), or 1 when the run could not start.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { EnvReader } from "../common/env.js";
import { renderReport, rerenderReport } from "../artillery/report/render.js";
import { MetricsSampler, type ScrapeTarget } from "../artillery/report/sampler.js";
import { nodeMetricsUrlsFromGatewayConfig } from "../artillery/report/node-metrics.js";
import { cohortSectionOf, sectionOf } from "../artillery/report/cohort-section.js";
import { CpuSampler, type CpuTarget } from "../artillery/report/cpu-sampler.js";
import { CPU_HEADING } from "../artillery/report/cpu-budget.js";
import { DEV_JWT_SECRET } from "./lib/tokens.js";
import { DATA_ROOT, REPO_ROOT } from "./infra/paths.js";
import { startLocalStack, type Apps, type Stores } from "./infra/stack.js";

const SUITES = ["smoke", "load", "soak", "spike", "storm", "capacity"] as const;
type Suite = (typeof SUITES)[number];
const DEFAULT_TARGET = "http://127.0.0.1:8080";

const started = Date.now();
const log = (line: string) => console.log(`[load +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);

if (process.argv[2] === "report" && process.argv[3]) {
  // Renders a report folder again from its saved files (after a change to the report code).
  console.log(await rerenderReport(process.argv[3]));
  process.exit(0);
}
const suite = process.argv[2] as Suite | undefined;
if (!suite || !SUITES.includes(suite)) {
  console.error(`usage: node dist/scripts/load.js <${SUITES.join("|")}>  (npm run load:<suite>; see artillery/README.md)
       node dist/scripts/load.js report <report folder>   (renders a report again)`);
  process.exit(2);
}

const env = new EnvReader();
const secret = env.optionalString("CHAT_JWT_SECRET") ?? DEV_JWT_SECRET;
const sampleEveryInMs = env.integer("LOAD_SAMPLE_SECONDS", 5, { min: 1, max: 300 }) * 1000;
const soakMinutes =
  env.optionalString("SOAK_MINUTES") === undefined ? undefined : env.integer("SOAK_MINUTES", 60, { min: 1, max: 24 * 60 });
const cpuProfile = env.boolean("LOAD_CPU_PROFILE", false);
/** Finer than the /metrics samples (a few /proc reads, well under a millisecond): phase edges and Artillery's exit fall within a second. */
const CPU_SAMPLE_EVERY_IN_MS = 1000;
const runId = randomBytes(4).toString("hex");
const suiteFile = join(REPO_ROOT, "artillery", `${suite}.yml`);
const reportDir = join(REPO_ROOT, "artillery", "reports", `${suite}-${new Date(started).toISOString().replace(/[:.]/g, "-")}`);

let cluster: LocalCluster | undefined;
let artilleryChild: ChildProcess | undefined;
let exitCode = 1;
// Ctrl-C (or a CI timeout) during a run must leave neither Artillery nor a cluster behind.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping Artillery${cluster ? " and the local cluster" : ""}…`);
    artilleryChild?.kill("SIGKILL");
    void (cluster?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}
try {
  const target = await resolveTarget();
  mkdirSync(reportDir, { recursive: true });
  const sampler = new MetricsSampler(target.scrapeTargets, sampleEveryInMs);
  const cpuTargets: CpuTarget[] = [
    ...target.cpuTargets,
    { label: "artillery (the generator)", pid: () => artilleryChild?.pid },
    { label: "load.ts (this script)", pid: () => process.pid },
  ];
  const cpuSampler = new CpuSampler(cpuTargets, CPU_SAMPLE_EVERY_IN_MS);
  log(`suite ${suite} → ${target.url} (${target.description}); report in ${reportDir}`);
  log(`server metrics: ${target.scrapeDescription}`);
  sampler.start();
  cpuSampler.start();
  const artillery = await runArtillery(target.url);
  cpuSampler.stop();
  await sampler.stop();
  exitCode = artillery.exitCode;
  const summary = await renderReport({
    suite,
    suiteFile,
    target: target.url,
    targetDescription: target.description,
    scrapeDescription: target.scrapeDescription,
    artilleryJsonFile: artillery.jsonFile,
    artilleryLog: artillery.output,
    artilleryExitCode: artillery.exitCode,
    serverSamples: sampler.samples,
    scrapeFailures: sampler.failures,
    cpu: cpuSampler.record(target.cpuScope),
    reportDir,
    startedAt: started,
  });
  log(`report: ${summary}`);
  const written = readFileSync(summary, "utf8");
  for (const section of [cohortSectionOf(written), sectionOf(written, CPU_HEADING)]) if (section) console.log(`\n${section}\n`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  exitCode = 1;
} finally {
  await cluster?.stop();
}
log(`done (exit ${exitCode})`);
process.exit(exitCode);

interface ResolvedTarget {
  url: string;
  description: string;
  scrapeTargets: ScrapeTarget[];
  scrapeDescription: string;
  /** The cluster's processes whose CPU is measured: those of a cluster this script started, else none. */
  cpuTargets: CpuTarget[];
  cpuScope: string;
}

/** A cluster this script did not start: its processes are unknown here. */
const NOT_OURS_CPU = {
  cpuTargets: [],
  cpuScope:
    'Listed: Artillery (its worker threads are in its process) and this script only. The cluster was not started by this script, so its processes are not listed: when they run on this machine, their CPU is in "other".',
};

async function resolveTarget(): Promise<ResolvedTarget> {
  const explicit = env.optionalString("TARGET");
  const metricsUrls = env.list("LOAD_METRICS_URLS", []);
  if (explicit !== undefined) {
    const url = checkedTarget(explicit);
    return { url, description: "TARGET", ...(await metricsOfRunningCluster(url, metricsUrls)), ...NOT_OURS_CPU };
  }
  if (await answersReady(DEFAULT_TARGET))
    return {
      url: DEFAULT_TARGET,
      description: "the cluster already running on :8080",
      ...(await metricsOfRunningCluster(DEFAULT_TARGET, metricsUrls)),
      ...NOT_OURS_CPU,
    };
  log("nothing answers on http://127.0.0.1:8080/readyz: starting a local cluster for this run…");
  cluster = await startLocalCluster();
  const direct = [...cluster.apps.nodes, cluster.apps.flusher].map((app) => `http://127.0.0.1:${app.port}/metrics`);
  const { apps, stores } = cluster;
  return {
    url: cluster.apps.gateway.url,
    description: `a local cluster started for this run (2 nodes, flusher, HAProxy, Redis, Cassandra; logs in ${cluster.dir})`,
    scrapeTargets: direct.map((url) => ({ url })),
    scrapeDescription: `each process directly: ${direct.join(", ")}`,
    // Getters, so that a component restarted under another pid is followed.
    cpuTargets: [
      ...apps.nodes.map((node, i) => ({ label: `node/${node.process.name}`, pid: () => apps.nodes[i]?.process.child.pid })),
      { label: "flusher", pid: () => apps.flusher.process.child.pid },
      { label: "cassandra", pid: () => stores.cassandra.process.child.pid },
      { label: "redis", pid: () => stores.redis.process.child.pid },
      { label: "haproxy", pid: () => apps.gateway.process.child.pid },
    ],
    cpuScope:
      "Listed: every process of the local cluster this script started (Cassandra is its JVM, HAProxy runs in the foreground), Artillery (its worker threads are in its process) and this script (sampling, /metrics scrapes).",
  };
}

/**
 * The /metrics URLs of a cluster this script did not start: LOAD_METRICS_URLS, else the socket
 * nodes of `npm start` when its gateway config names the target's port and every node answers.
 */
async function metricsOfRunningCluster(
  url: string,
  metricsUrls: string[],
): Promise<Pick<ResolvedTarget, "scrapeTargets" | "scrapeDescription">> {
  if (metricsUrls.length > 0) {
    return { scrapeTargets: metricsUrls.map((u) => ({ url: u })), scrapeDescription: `LOAD_METRICS_URLS: ${metricsUrls.join(", ")}` };
  }
  const configFile = join(env.optionalString("CHAT_LOCAL_DATA_DIR") ?? DATA_ROOT, "logs", "gateway", "haproxy.cfg");
  let config = "";
  try {
    config = readFileSync(configFile, "utf8");
  } catch {
    // No `npm start` cluster here: nothing to discover.
  }
  const nodes = isLoopback(new URL(url).hostname) ? nodeMetricsUrlsFromGatewayConfig(config, Number(new URL(url).port)) : [];
  if (nodes.length > 0 && (await Promise.all(nodes.map(answersMetrics))).every(Boolean)) {
    return {
      scrapeTargets: nodes.map((u) => ({ url: u })),
      scrapeDescription: `the socket nodes of \`npm start\` (from ${configFile}): ${nodes.join(", ")}; not the flusher, whose port only \`npm start\` prints (add it with LOAD_METRICS_URLS)`,
    };
  }
  const advice =
    "none: the gateway does not serve /metrics; set LOAD_METRICS_URLS=http://127.0.0.1:<node port>/metrics,… (the ports `npm start` prints) for the server's side of the run";
  return { scrapeTargets: [], scrapeDescription: advice };
}

async function answersMetrics(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status === 200;
  } catch {
    return false;
  }
}

/** TARGET must be an http(s) URL on the loopback interface unless LOAD_ALLOW_REMOTE_TARGET=1. */
function checkedTarget(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`TARGET must be a URL such as http://127.0.0.1:8080, got "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`TARGET must be http(s), got "${raw}"`);
  if (!isLoopback(url.hostname) && !env.boolean("LOAD_ALLOW_REMOTE_TARGET", false)) {
    throw new Error(`TARGET ${raw} is not a loopback address; set LOAD_ALLOW_REMOTE_TARGET=1 to load a host you are responsible for`);
  }
  return url.origin;
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

async function answersReady(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200;
  } catch {
    return false;
  }
}

interface LocalCluster {
  apps: Apps;
  stores: Stores;
  dir: string;
  stop(): Promise<void>;
}

async function startLocalCluster(): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), "chat-load-"));
  let stores: Stores | undefined;
  let apps: Apps | undefined;
  const stop = async () => {
    await apps?.stop();
    await stores?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const admission = suite === "spike" ? spikeAdmission() : undefined;
    if (admission) {
      log(`spike admission (from the capacity figure): ${admission.description}`);
      // The gateway's settings are read from this process's environment (scripts/infra/stack.ts passes it to HAProxy's config).
      Object.assign(process.env, admission.gatewayEnv);
    }
    ({ stores, apps } = await startLocalStack({
      dir,
      keyspace: "chat_load",
      jwtSecret: secret,
      log,
      env: { LOG_LEVEL: "warn", ...admission?.nodeEnv },
    }));
    log(
      `local cluster up: gateway ${apps.gateway.url}, nodes ${apps.nodes.map((node) => `:${node.port}`).join(" ")}, flusher :${apps.flusher.port}`,
    );
    return { apps, stores, dir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The spike's admission, derived from the measured capacity (artillery/README.md "Capacity": 13
 * arrivals/s ≈ 475 users online on this cluster of 2 nodes), so a 3× spike meets the limits
 * instead of the defaults sized for the bench's 13,000 connections per node:
 *  - the gateway's waiting room passes each node its share of the capacity's users online
 *    (ceil(475 / 2) = 238); more wait in HAProxy's queue (5 s, then 503 + Retry-After 5);
 *  - each node's own connection limit is 10 % above that (262), a backstop: the gateway queues
 *    before a node has to refuse (README "Admission at each node");
 *  - each node admits its share of the capacity's arrival rate (ceil(13 / 2) = 7 new
 *    connections/s, 1-s burst), so the spike's 39/s is also refused 503 + Retry-After at the node,
 *    while the steady phase's 9.1/s (4.6 per node) passes.
 * Only for a cluster this script starts: a running cluster keeps its own admission (the report
 * then shows whether the spike met it: refusals per phase).
 */
function spikeAdmission(): { nodeEnv: NodeJS.ProcessEnv; gatewayEnv: NodeJS.ProcessEnv; description: string } {
  // Inside the function: the run above executes at module load, before a module-level const would be initialised.
  const CAPACITY = { arrivalsPerSecond: 13, usersOnline: 475, nodes: 2 };
  const perNode = Math.ceil(CAPACITY.usersOnline / CAPACITY.nodes);
  const nodeLimit = Math.ceil(perNode * 1.1);
  const connectRate = Math.ceil(CAPACITY.arrivalsPerSecond / CAPACITY.nodes);
  return {
    nodeEnv: { CHAT_MAX_CONNECTIONS: String(nodeLimit), CHAT_CONNECT_RATE: String(connectRate) },
    gatewayEnv: { CHAT_GATEWAY_NODE_MAXCONN: String(perNode) },
    description: `gateway maxconn ${perNode} per node (queue then 503), node CHAT_MAX_CONNECTIONS ${nodeLimit}, CHAT_CONNECT_RATE ${connectRate}/s`,
  };
}

interface ArtilleryRun {
  exitCode: number;
  jsonFile: string;
  /** What Artillery printed (its console report and the `ensure` verdicts). */
  output: string;
}

/** Runs Artillery's CLI in a child process, its output both on the console and in the report folder. */
async function runArtillery(target: string): Promise<ArtilleryRun> {
  const jsonFile = join(reportDir, "artillery.json");
  // Worker threads inherit the process's execArgv, so --cpu-prof profiles each of them too.
  const profileArgs = cpuProfile ? ["--cpu-prof", "--cpu-prof-dir", join(reportDir, "cpu-profiles")] : [];
  const args = [...profileArgs, join(REPO_ROOT, "node_modules/artillery/bin/run"), "run", "--target", target, "--output", jsonFile];
  const overrides = phaseOverrides();
  if (overrides) args.push("--overrides", JSON.stringify(overrides));
  args.push(suiteFile);
  const logFile = createWriteStream(join(reportDir, "artillery.log"));
  // The console and `output` still have everything: a lost log file must not end the run (and orphan the cluster).
  logFile.on("error", (error) => console.error(`could not write artillery.log: ${error.message}`));
  let output = "";
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = (artilleryChild = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      // Telemetry would send a request off this machine; LOAD_RUN_ID names this run's rooms.
      env: {
        ...process.env,
        CHAT_JWT_SECRET: secret,
        LOAD_RUN_ID: runId,
        ARTILLERY_DISABLE_TELEMETRY: "true",
        AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: "1",
      },
    }));
    for (const stream of [child.stdout, child.stderr]) {
      stream.on("data", (chunk: Buffer) => {
        process.stdout.write(chunk);
        logFile.write(chunk);
        output += chunk.toString();
      });
    }
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  logFile.end();
  return { exitCode, jsonFile, output };
}

/**
 * SOAK_MINUTES replaces the duration of the soak's steady phase (at the same arrival rate). Artillery's --overrides
 * replaces arrays whole, so the phases are read from soak.yml's `phases:` line (JSON flow
 * style there for this reason) and only the steady phase's duration changes.
 */
function phaseOverrides(): { config: { phases: unknown[] } } | undefined {
  if (suite !== "soak" || soakMinutes === undefined) return undefined;
  const line = /^\s*phases:\s*(\[.*\])\s*$/m.exec(readFileSync(suiteFile, "utf8"));
  if (!line) throw new Error(`${suiteFile}: expected a one-line "phases: [...]" (JSON flow style) for SOAK_MINUTES to change`);
  const phases = JSON.parse(line[1]!) as { name?: string; duration?: number; arrivalCount?: number }[];
  const steady = phases.find((phase) => phase.name === "steady");
  if (!steady?.duration) throw new Error(`${suiteFile}: no phase named "steady" with a duration for SOAK_MINUTES to change`);
  // An arrivalCount is spread over the duration: scale it so the rate stays the same.
  if (steady.arrivalCount !== undefined) steady.arrivalCount = Math.round((steady.arrivalCount / steady.duration) * soakMinutes * 60);
  steady.duration = soakMinutes * 60;
  return { config: { phases } };
}
