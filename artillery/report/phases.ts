/**
 * Figures per Artillery phase (warm-up, ramp, steady, spike…): the capacity probe's answer
 * ("where does ack p99 cross the threshold?") and the spike's recovery read from this table.
 * Phase start times come from Artillery's console output, the figures from its 10-s periods.
 */
import { PERIOD_IN_MS, windowPercentile, type ArtilleryResult } from "./artillery-json.js";

// eslint-disable-next-line no-control-regex -- matches the ESC byte that starts a terminal colour code
const ANSI_COLOUR = /\u001b\[[0-9;]*m/g;

export interface PhaseStart {
  name: string;
  /** ms since the epoch. */
  startedAt: number;
}

/** "Phase started: ramp (index: 1, duration: 180s) 21:13:23(+0000)", with the date taken from `runStartedAt`. */
export function phaseStarts(log: string, runStartedAt: number): PhaseStart[] {
  return phaseEvents(log, "started", runStartedAt);
}

/** When each phase's arrivals ended ("Phase completed: …"); users still online then drain after it. */
export function phaseEnds(log: string, runStartedAt: number): PhaseStart[] {
  return phaseEvents(log, "completed", runStartedAt);
}

function phaseEvents(log: string, kind: "started" | "completed", runStartedAt: number): PhaseStart[] {
  const starts: PhaseStart[] = [];
  const day = new Date(runStartedAt);
  day.setUTCHours(0, 0, 0, 0);
  const line = new RegExp(`^Phase ${kind}: (.+) \\(index: \\d+, duration: [^)]*\\) (\\d\\d):(\\d\\d):(\\d\\d)\\(\\+0000\\)$`, "gm");
  for (const match of /* ANSI colour codes in Artillery's output */ log.replace(ANSI_COLOUR, "").matchAll(line)) {
    let at = day.getTime() + ((Number(match[2]) * 60 + Number(match[3])) * 60 + Number(match[4])) * 1000;
    // A run that crosses midnight: times earlier than the start belong to the next day.
    while (at < runStartedAt - 60_000) at += 24 * 3600_000;
    starts.push({ name: match[1]!, startedAt: at });
  }
  return starts;
}

export interface PhaseFigures {
  name: string;
  periods: number;
  arrivalsPerSecond: number;
  ackedPerSecond: number;
  /** Acknowledged edits, deletes and reactions. */
  changesAckedPerSecond: number;
  receivedPerSecond: number;
  usersOnlineMax: number | undefined;
  ackP99: { mean: number; worst: number } | undefined;
  broadcastP99: { mean: number; worst: number } | undefined;
  generatorLagWorstMs: number | undefined;
  failed: number;
}

/** A period belongs to the phase its middle falls in. The last phase also takes the drain after it. */
export function phaseFigures(result: ArtilleryResult, starts: readonly PhaseStart[]): PhaseFigures[] {
  return starts.map((phase, i) => {
    const end = starts[i + 1]?.startedAt ?? Infinity;
    const blocks = result.intermediate.filter((block) => {
      const middle = block.period + PERIOD_IN_MS / 2;
      return middle >= phase.startedAt && middle < end;
    });
    const seconds = Math.max(1, blocks.length) * (PERIOD_IN_MS / 1000);
    const total = (counter: string) => blocks.reduce((sum, block) => sum + (block.counters[counter] ?? 0), 0);
    const users = blocks.map((block) => block.summaries["loadgen.connected_users"]?.max).filter((v): v is number => v !== undefined);
    const lag = blocks.map((block) => block.summaries["loadgen.event_loop_delay_p99"]?.max).filter((v): v is number => v !== undefined);
    return {
      name: phase.name,
      periods: blocks.length,
      arrivalsPerSecond: total("vusers.created") / seconds,
      ackedPerSecond: total("chat.messages_acked") / seconds,
      changesAckedPerSecond: total("chat.changes_acked") / seconds,
      receivedPerSecond: total("chat.messages_received") / seconds,
      usersOnlineMax: users.length ? Math.max(...users) : undefined,
      ackP99: windowPercentile(blocks, "chat.ack_latency"),
      broadcastP99: windowPercentile(blocks, "chat.broadcast_latency"),
      generatorLagWorstMs: lag.length ? Math.max(...lag) : undefined,
      failed: total("vusers.failed"),
    };
  });
}
