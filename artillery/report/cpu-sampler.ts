/**
 * Where the machine's CPU goes during a run: the CPU time of each listed process (a socket
 * node, the flusher, Cassandra, Redis, HAProxy, Artillery) and the machine's busy and idle time,
 * read from /proc every interval, so the report can say per component and per phase how many
 * cores it used and how many CPU ms each acked send cost (cpu-budget.ts).
 *
 * - A process: utime + stime of /proc/<pid>/stat (fields 14 and 15), which already sum all its
 *   threads (Artillery's worker threads, Cassandra's JVM threads). Children it forked are separate
 *   processes (Redis' AOF rewrite) and count in the machine's busy time, not in its own.
 * - The machine: the first line of /proc/stat, busy = user + nice + system + irq + softirq + steal
 *   (guest time is already inside user and nice), idle = idle + iowait.
 * - Units: clock ticks of USER_HZ. Node has no sysconf(), so `getconf CLK_TCK` is asked once; where
 *   it cannot run, 100 (USER_HZ is 100 on Linux on x86 and ARM: the kernel reports /proc times in it
 *   whatever its internal HZ). The value is kept in the record.
 *
 * A process that is not running (not started yet, exited, restarted under another pid) is
 * recorded as null for that sample, never an error: the arithmetic counts a new process from
 * zero and drops the CPU an exited one used after its last sample.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface CpuTarget {
  /** "node/n1", "cassandra", "artillery"… */
  label: string;
  /** Read at every sample, so a restarted component is followed; undefined while it has none. */
  pid(): number | undefined;
}

export interface ProcessTicks {
  pid: number;
  /** Field 22, ticks after boot: with the pid, tells a restarted or reused pid from the same process. */
  startedAtTicks: number;
  /** utime + stime. */
  cpuTicks: number;
}

export interface MachineTicks {
  busy: number;
  idle: number;
}

export interface CpuSample {
  /** ms since the epoch. */
  at: number;
  /** undefined where /proc/stat cannot be read (not Linux). */
  machine: MachineTicks | undefined;
  /** By label; null when the process is not running. */
  processes: Record<string, ProcessTicks | null>;
}

/** What cpu-samples.json holds: enough to render the section again. */
export interface CpuRecord {
  intervalInMs: number;
  ticksPerSecond: number;
  /** cpuN lines of /proc/stat. */
  cores: number;
  /** The listed processes, in the table's order. */
  labels: string[];
  /** One line for the report: which processes are listed and which are not. */
  scope: string;
  samples: CpuSample[];
  /** Reads that failed for another reason than the process being gone ("<label>: <reason>" → count). */
  failures: Record<string, number>;
}

/** utime + stime and the start time from one /proc/<pid>/stat line. The comm field may hold spaces and parentheses: fields are counted after the last ")". */
export function parseProcessStat(line: string, pid: number): ProcessTicks {
  const end = line.lastIndexOf(")");
  if (end < 0) throw new Error(`/proc/${pid}/stat: no ")" closing the command name`);
  // After ")": field 3 (state) is [0], so field N is [N - 3].
  const fields = line
    .slice(end + 1)
    .trim()
    .split(/\s+/);
  const field = (n: number) => {
    const value = Number(fields[n - 3]);
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`/proc/${pid}/stat: field ${n} is not a tick count: "${fields[n - 3]}"`);
    return value;
  };
  return { pid, startedAtTicks: field(22), cpuTicks: field(14) + field(15) };
}

/** The machine's busy and idle ticks (first line of /proc/stat) and its core count (the cpuN lines). */
export function parseMachineStat(text: string): { ticks: MachineTicks; cores: number } {
  const first = /^cpu\s+(.*)$/m.exec(text);
  if (!first) throw new Error('/proc/stat: no "cpu" line');
  const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = first[1]!.trim().split(/\s+/).map(Number);
  if ([user, nice, system, idle].some((value) => value === undefined || !Number.isFinite(value)))
    throw new Error(`/proc/stat: unreadable "cpu" line: ${first[0]}`);
  return {
    ticks: { busy: user! + nice! + system! + irq + softirq + steal, idle: idle! + iowait },
    cores: text.match(/^cpu\d+\s/gm)?.length ?? 0,
  };
}

/** USER_HZ (see the module comment). */
export function clockTicksPerSecond(): number {
  try {
    const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    if (Number.isInteger(value) && value > 0) return value;
  } catch {
    // No getconf here: the Linux default below.
  }
  return 100;
}

export type ReadText = (path: string) => string;

export class CpuSampler {
  readonly samples: CpuSample[] = [];
  readonly failures: Record<string, number> = {};
  private timer: NodeJS.Timeout | undefined;
  private cores = 0;

  constructor(
    private readonly targets: readonly CpuTarget[],
    readonly intervalInMs: number,
    private readonly readText: ReadText = (path) => readFileSync(path, "utf8"),
    readonly ticksPerSecond = clockTicksPerSecond(),
  ) {}

  start(): void {
    this.sampleOnce();
    this.timer = setInterval(() => this.sampleOnce(), this.intervalInMs);
  }

  /** Stops after one last sample, so the last window ends when the run did. */
  stop(): void {
    clearInterval(this.timer);
    this.sampleOnce();
  }

  /** A few small synchronous reads of /proc (kernel memory, no disk): well under a millisecond. */
  sampleOnce(): void {
    let machine: MachineTicks | undefined;
    try {
      const parsed = parseMachineStat(this.readText("/proc/stat"));
      machine = parsed.ticks;
      this.cores = parsed.cores;
    } catch (error) {
      // Not Linux, or /proc not mounted: the report says the machine was not measured.
      this.fail("machine", error);
    }
    const processes: Record<string, ProcessTicks | null> = {};
    for (const target of this.targets) processes[target.label] = this.readProcess(target.label, target.pid());
    this.samples.push({ at: Date.now(), machine, processes });
  }

  record(scope: string): CpuRecord {
    return {
      intervalInMs: this.intervalInMs,
      ticksPerSecond: this.ticksPerSecond,
      cores: this.cores,
      labels: this.targets.map((target) => target.label),
      scope,
      samples: this.samples,
      failures: this.failures,
    };
  }

  private readProcess(label: string, pid: number | undefined): ProcessTicks | null {
    if (pid === undefined) return null;
    try {
      return parseProcessStat(this.readText(`/proc/${pid}/stat`), pid);
    } catch (error) {
      // ENOENT (ESRCH while reading): the process has exited, which is no failure; anything else is counted for the report.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ESRCH") this.fail(label, error);
      return null;
    }
  }

  private fail(what: string, error: unknown): void {
    const key = `${what}: ${error instanceof Error ? error.message : String(error)}`;
    this.failures[key] = (this.failures[key] ?? 0) + 1;
  }
}
