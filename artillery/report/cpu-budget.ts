/**
 * "Where the CPU went" in summary.md: from the CPU samples of a run (cpu-sampler.ts), per listed
 * process and per window (the whole run, then each of Artillery's phases), the cores it used (CPU
 * seconds / wall seconds) and its CPU ms per acked send; the machine's busy share of its cores;
 * and "other", the machine's busy time that no listed process accounts for (other people's work
 * on a shared machine, forked children, the kernel's own threads).
 *
 * Samples are taken every interval, not at window edges: the CPU of an interval between two
 * samples is spread evenly over it, and a window takes the part of each interval it overlaps.
 */
import { PERIOD_IN_MS, type ArtilleryResult } from "./artillery-json.js";
import type { CpuRecord, ProcessTicks } from "./cpu-sampler.js";
import type { PhaseStart } from "./phases.js";

export interface CpuWindow {
  label: string;
  /** ms since the epoch. */
  from: number;
  to: number;
  /** Acked sends in the window: Artillery's, else the nodes' own count; undefined when neither is there. */
  ackedSends: number | undefined;
}

export interface ComponentUse {
  label: string;
  cpuSeconds: number;
  /** Running in at least one sample of the window. */
  seen: boolean;
  /** Exited (or was replaced by a restart) in the window: its CPU after its last sample is not counted. */
  exited: boolean;
}

export interface WindowUse {
  window: CpuWindow;
  /** The part of the window the samples cover, s. */
  wallSeconds: number;
  components: ComponentUse[];
  /** undefined when /proc/stat was not read over the whole window. */
  machine: { busySeconds: number; share: number } | undefined;
  /** Machine busy minus the listed processes. */
  otherSeconds: number | undefined;
}

/** The same process in both samples: a pid alone may have been reused by another one, so its start time too. */
function sameProcess(a: ProcessTicks, b: ProcessTicks): boolean {
  return a.pid === b.pid && a.startedAtTicks === b.startedAtTicks;
}

/** The ticks a process used between two samples; a process not seen in the first (new, or restarted under another pid) counts from zero. */
function ticksBetween(before: ProcessTicks | null | undefined, after: ProcessTicks | null | undefined): number {
  if (!after) return 0;
  if (!before || !sameProcess(before, after)) return after.cpuTicks;
  return after.cpuTicks - before.cpuTicks;
}

export function cpuUse(record: CpuRecord, window: CpuWindow): WindowUse {
  const secondsPerTick = 1 / record.ticksPerSecond;
  const components = record.labels.map((label): ComponentUse => ({ label, cpuSeconds: 0, seen: false, exited: false }));
  let wallMs = 0;
  let busyTicks = 0;
  let idleTicks = 0;
  let machineMissing = false;
  for (let i = 1; i < record.samples.length; i += 1) {
    const before = record.samples[i - 1]!;
    const after = record.samples[i]!;
    const span = after.at - before.at;
    const overlap = Math.min(after.at, window.to) - Math.max(before.at, window.from);
    if (span <= 0 || overlap <= 0) continue;
    const share = overlap / span;
    wallMs += overlap;
    for (const component of components) {
      const a = before.processes[component.label];
      const b = after.processes[component.label];
      component.cpuSeconds += ticksBetween(a, b) * share * secondsPerTick;
      if (a || b) component.seen = true;
      if (a && (!b || !sameProcess(a, b))) component.exited = true;
    }
    if (before.machine && after.machine) {
      busyTicks += (after.machine.busy - before.machine.busy) * share;
      idleTicks += (after.machine.idle - before.machine.idle) * share;
    } else machineMissing = true;
  }
  const machine =
    machineMissing || wallMs === 0 || busyTicks + idleTicks <= 0
      ? undefined
      : { busySeconds: busyTicks * secondsPerTick, share: busyTicks / (busyTicks + idleTicks) };
  const listed = components.reduce((sum, component) => sum + component.cpuSeconds, 0);
  return { window, wallSeconds: wallMs / 1000, components, machine, otherSeconds: machine && machine.busySeconds - listed };
}

/** Acked sends between two moments from Artillery's 10-s periods, each counted for the part of it inside. */
export function ackedSendsBetween(result: ArtilleryResult, from: number, to: number): number {
  let sends = 0;
  for (const block of result.intermediate) {
    const overlap = Math.min(block.period + PERIOD_IN_MS, to) - Math.max(block.period, from);
    if (overlap > 0) sends += (block.counters["chat.messages_acked"] ?? 0) * (overlap / PERIOD_IN_MS);
  }
  return sends;
}

/**
 * The whole run (first to last sample: Artillery's start to its exit) and, when the suite has more
 * than one phase, each phase from its start (Artillery's console) to the next one's (the last
 * phase to the end, its drain included).
 */
export function cpuWindows(
  record: CpuRecord,
  result: ArtilleryResult | undefined,
  starts: readonly PhaseStart[],
  /** Acked sends between two moments when Artillery's results are missing (the nodes' own count). */
  sendsWithoutResult: (from: number, to: number) => number | undefined = () => undefined,
): CpuWindow[] {
  const first = record.samples[0]?.at;
  const last = record.samples[record.samples.length - 1]?.at;
  if (first === undefined || last === undefined) return [];
  const windows: CpuWindow[] = [
    {
      label: "whole run",
      from: first,
      to: last,
      ackedSends: result ? (result.aggregate.counters["chat.messages_acked"] ?? 0) : sendsWithoutResult(first, last),
    },
  ];
  if (starts.length < 2) return windows;
  starts.forEach((phase, i) => {
    const to = starts[i + 1]?.startedAt ?? last;
    windows.push({
      label: phase.name,
      from: phase.startedAt,
      to,
      ackedSends: result ? ackedSendsBetween(result, phase.startedAt, to) : sendsWithoutResult(phase.startedAt, to),
    });
  });
  return windows;
}

export const CPU_HEADING = "## Where the CPU went";

export function cpuSection(record: CpuRecord | undefined, windows: readonly CpuWindow[]): string[] {
  if (!record) return [];
  const lines = [CPU_HEADING, ""];
  const uses = windows.map((window) => cpuUse(record, window)).filter((use) => use.wallSeconds > 0);
  if (uses.length === 0) return [...lines, "Fewer than two CPU samples were taken: nothing to show.", ""];
  lines.push(
    `Per cell: cores used (CPU s ÷ wall s) · CPU ms per acked send. Measured from \`/proc/<pid>/stat\` (utime + stime, all threads of the process) and \`/proc/stat\` (the machine), read every ${record.intervalInMs} ms (${record.ticksPerSecond} ticks/s); a phase runs from its start in Artillery's console to the next one's, the last includes the drain.`,
    "",
    `- ${record.scope}`,
    "",
    `| component | ${uses.map((use) => `${use.window.label} (${use.wallSeconds.toFixed(0)} s)`).join(" | ")} |`,
    `|---|${uses.map(() => "---|").join("")}`,
  );
  const cell = (cpuSeconds: number | undefined, use: WindowUse) =>
    cpuSeconds === undefined ? "–" : `${(cpuSeconds / use.wallSeconds).toFixed(2)} · ${perSend(cpuSeconds, use.window.ackedSends)}`;
  record.labels.forEach((label, i) => {
    const cells = uses.map((use) => {
      const component = use.components[i]!;
      return component.seen ? `${cell(component.cpuSeconds, use)}${component.exited ? " †" : ""}` : "–";
    });
    lines.push(`| ${label} | ${cells.join(" | ")} |`);
  });
  lines.push(`| other (machine busy − the above) | ${uses.map((use) => cell(use.otherSeconds, use)).join(" | ")} |`);
  const machineCell = (use: WindowUse) =>
    use.machine
      ? `**${cell(use.machine.busySeconds, use)}** (${(use.machine.share * 100).toFixed(0)} % of ${record.cores || "?"} cores)`
      : "not measured";
  lines.push(`| **machine busy** | ${uses.map(machineCell).join(" | ")} |`);
  lines.push(
    `| acked sends (per s) | ${uses
      .map((use) =>
        use.window.ackedSends === undefined
          ? "–"
          : `${Math.round(use.window.ackedSends)} (${(use.window.ackedSends / use.wallSeconds).toFixed(1)}/s)`,
      )
      .join(" | ")} |`,
    "",
  );
  if (uses.some((use) => use.otherSeconds !== undefined && use.otherSeconds < 0))
    lines.push(
      `A negative "other": the listed processes' counters add up to more than the machine's. The kernel keeps the two apart (each task's time from the scheduler's clock, /proc/stat's by CPU state per tick), and on this machine they differed by up to ~0.1 core on a quiet run: "other" that small is nothing measurable.`,
      "",
    );
  if (uses.some((use) => use.components.some((component) => component.exited)))
    lines.push(
      `† exited or restarted in the window (Artillery does at the end of the run): the CPU it used after its last sample (under ${record.intervalInMs} ms) is not counted; it shows in "other".`,
      "",
    );
  const failures = Object.entries(record.failures);
  if (failures.length > 0) {
    lines.push("Failed /proc reads:", "", ...failures.map(([what, count]) => `- ${count}× ${what}`), "");
  }
  return lines;
}

function perSend(cpuSeconds: number, sends: number | undefined): string {
  if (sends === undefined || sends < 1) return "–";
  const ms = (cpuSeconds * 1000) / sends;
  return `${ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)} ms`;
}
