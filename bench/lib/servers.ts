/**
 * The processes under measurement: our socket nodes (scripts/infra/apps.ts, with the probe
 * preloaded) and the two reference servers, each in its own process, each asked for its CPU
 * time and memory over IPC. Redis is not a node process: its CPU comes from /proc.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startSocketNode, type AppProcess } from "../../scripts/infra/apps.js";
import { startProcess } from "../../scripts/infra/process.js";
import type { ProbeReply } from "./probe.js";

const PROBE_SCRIPT = fileURLToPath(new URL("./probe.js", import.meta.url));
const REFERENCE_DIR = fileURLToPath(new URL("../reference/", import.meta.url));

export interface MeasuredServer {
  name: string;
  port: number;
  pid: number;
  probe(options?: { gc?: boolean; heapSnapshotPath?: string }): Promise<ProbeReply>;
  /** Starts the in-process CPU profiler; stop writes the .cpuprofile to `path`. */
  cpuProfile(action: "start"): Promise<void>;
  cpuProfile(action: "stop", path: string): Promise<void>;
  stop(): Promise<void>;
  /**
   * Runnable-but-waiting time in ms, when the main thread's (runQueueWaitInMs(pid)) is not the
   * one that matters: a Go server runs its goroutines on any of its threads.
   */
  runQueueWaitInMs?(): number;
}

function probeOf(app: AppProcess): MeasuredServer["probe"] {
  return ({ gc = false, heapSnapshotPath } = {}) =>
    new Promise((resolve, reject) => {
      const child = app.process.child;
      const timer = setTimeout(() => reject(new Error(`${app.process.name} did not answer the probe`)), 120_000);
      const onMessage = (message: ProbeReply) => {
        if (message?.type !== "bench:probe") return;
        clearTimeout(timer);
        child.off("message", onMessage);
        resolve(message);
      };
      child.on("message", onMessage);
      child.send({ type: "bench:probe", gc, heapSnapshotPath });
    });
}

function cpuProfileOf(app: AppProcess) {
  return (action: "start" | "stop", path?: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = app.process.child;
      const onMessage = (message: { type?: string; error?: string }) => {
        if (message?.type !== "bench:cpu-profile") return;
        child.off("message", onMessage);
        if (message.error) reject(new Error(`${app.process.name}: cpu profile ${action}: ${message.error}`));
        else resolve();
      };
      child.on("message", onMessage);
      child.send({ type: "bench:cpu-profile", action, path });
    });
}

function measured(name: string, app: AppProcess): MeasuredServer {
  return {
    name,
    port: app.port,
    pid: app.process.child.pid ?? -1,
    probe: probeOf(app),
    cpuProfile: cpuProfileOf(app) as MeasuredServer["cpuProfile"],
    stop: () => app.stop(5000),
  };
}

/** One of our socket nodes, as `npm start` runs it, plus the probe. */
export async function startOurNode(name: string, env: NodeJS.ProcessEnv, logDir: string): Promise<MeasuredServer> {
  const app = await startSocketNode({
    name,
    env: { ...env, HOST: "127.0.0.1", PORT: "0", NODE_OPTIONS: `--import=${PROBE_SCRIPT}` },
    logFile: join(logDir, `${name}.log`),
  });
  return measured(name, app);
}

export type ReferenceKind = "uws" | "socketio";

/** A reference server from bench/reference/, in its own process. */
export async function startReference(kind: ReferenceKind, logDir: string): Promise<MeasuredServer> {
  const script = join(REFERENCE_DIR, kind === "uws" ? "uws-server.js" : "socketio-server.js");
  const name = `ref-${kind}`;
  const child = startProcess({ name, command: process.execPath, args: [script], logFile: join(logDir, `${name}.log`), ipc: true });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 15_000);
    child.child.on("message", (message: { type?: string; port?: number }) => {
      if (message?.type === "listening" && typeof message.port === "number") {
        clearTimeout(timer);
        resolve(message.port);
      }
    });
    void child.exited.then((code) => reject(new Error(`${name} exited (${code})`)));
  });
  return measured(name, { process: child, port, stop: (deadline) => child.stop(deadline) });
}

/** user + system CPU time of any process, from /proc/<pid>/stat, in microseconds (10 ms ticks). */
export function procCpuInMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** sysconf(_SC_CLK_TCK): 100 on every Linux we run on. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Time the process's main thread spent runnable but waiting for a CPU, from
 * /proc/<pid>/schedstat (2nd field, ns), in ms. On a shared machine this is the part of a
 * latency that no code change in the process can remove.
 */
export function runQueueWaitInMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/schedstat`, "utf8").trim().split(" ");
  return Number(fields[1]) / 1e6;
}

/** runQueueWaitInMs summed over every thread of the process (/proc/<pid>/task/<tid>/schedstat). */
export function allThreadsRunQueueWaitInMs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").trim().split(" ")[1]) / 1e6;
    } catch {
      // A thread that exited between the listing and the read: its wait is gone with it.
    }
  }
  return total;
}

/** The 1-minute load average, for the record of how busy the machine was. */
export function loadAverage(): number {
  return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}
