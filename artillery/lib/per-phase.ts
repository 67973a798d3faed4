/**
 * Figures per phase and per cohort, for the spike (issue 16): did the users already in before
 * the spike keep their ack p99 within 2× of the steady phase's, and did every newcomer get in?
 *
 * The processor tags as it measures, so Artillery's end-of-run aggregate holds an exact
 * percentile per phase (its 10-s periods' summaries cannot be merged into one): each ack goes to
 * `chat.ack_latency.<phase>.<cohort>` by the phase its send was emitted in, and each arrival's
 * admission to `chat.admission.<phase>.*` by the phase it arrived in. The phases' time ranges come
 * from the suite's `phases: [...]` (a JSON flow sequence), moved to when Artillery's worker
 * really started each phase (PhaseClock.started); the drain after the last phase counts in the last phase.
 * Cohort: `incumbent` when the user was admitted before the split phase (the spike) began,
 * else `newcomer`.
 */
export interface PhaseSpan {
  /** Metric-safe name (lower case, [a-z0-9_]). */
  name: string;
  /** ms after the run's start. */
  startsAtMs: number;
  endsAtMs: number;
}

export type Cohort = "incumbent" | "newcomer";
export const COHORTS: readonly Cohort[] = ["incumbent", "newcomer"];

/** "spike ×3" → "spike_3": phase names become parts of metric names. */
export function metricSafe(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "_")
      .replace(/^_+|_+$/g, "") || "phase"
  );
}

/** The phases of a suite whose `phases:` is a JSON flow sequence (as spike.yml writes it; prettier may break it into lines and add trailing commas). */
export function phasesOfSuite(yamlText: string, file = "the suite"): PhaseSpan[] {
  const flow = /^[ \t]*phases:\s*(\[[^\]]*\])/m.exec(yamlText);
  if (!flow) throw new Error(`${file}: per-phase figures need "phases: [...]" as a JSON flow sequence`);
  const phases = JSON.parse(flow[1]!.replace(/,\s*\]$/, "]")) as { name?: unknown; duration?: unknown }[];
  let at = 0;
  return phases.map((phase, i) => {
    if (typeof phase.duration !== "number" || !(phase.duration > 0)) throw new Error(`${file}: phase ${i} needs a duration in seconds`);
    const span = {
      name: metricSafe(typeof phase.name === "string" ? phase.name : `phase ${i}`),
      startsAtMs: at,
      endsAtMs: at + phase.duration * 1000,
    };
    at = span.endsAtMs;
    return span;
  });
}

/**
 * Which phase a moment belongs to. Starts are first the suite's durations laid end to end from
 * `origin`; `started(index, at)` moves a phase (and those after it) to when Artillery really
 * started it: a starved generator stretches its phases (its arrival timers fire late and it
 * makes every arrival anyway), so the planned times drift by tens of seconds under load.
 */
export class PhaseClock {
  private readonly starts: number[];
  private readonly ends = new Map<number, number>();

  constructor(
    readonly phases: readonly PhaseSpan[],
    /** ms since the epoch when the first phase started (planned). */
    readonly origin: number,
  ) {
    if (phases.length === 0) throw new Error("a phase clock needs at least one phase");
    this.starts = phases.map((phase) => origin + phase.startsAtMs);
  }

  /** Artillery started phase `index` at `at` (ms since the epoch): it and the later phases move by the difference. */
  started(index: number, at: number): void {
    if (!(index >= 0 && index < this.starts.length)) return;
    const shift = at - this.starts[index]!;
    for (let i = index; i < this.starts.length; i += 1) this.starts[i]! += shift;
  }

  /** Artillery completed phase `index` (made its last arrival) at `at`. */
  completed(index: number, at: number): void {
    if (index >= 0 && index < this.starts.length) this.ends.set(index, at);
  }

  /** When the phase was seen to complete, ms since the epoch; undefined while it runs (or when not seen). */
  endOf(name: string): number | undefined {
    return this.ends.get(this.indexOf(name));
  }

  /** When the phase started (or is planned to), ms since the epoch. */
  startOf(name: string): number {
    const index = this.indexOf(name);
    return this.starts[index]!;
  }

  /** The phase `at` (ms since the epoch) falls in; before the first, the first; after the last (the drain), the last. */
  phaseAt(at: number): string {
    let index = 0;
    while (index + 1 < this.starts.length && at >= this.starts[index + 1]!) index += 1;
    return this.phases[index]!.name;
  }

  /** `incumbent` when admitted before `splitPhase` began. */
  cohortOf(admittedAt: number, splitPhase: string): Cohort {
    return admittedAt < this.startOf(splitPhase) ? "incumbent" : "newcomer";
  }

  private indexOf(name: string): number {
    const index = this.phases.findIndex((phase) => phase.name === name);
    if (index < 0) throw new Error(`no phase named "${name}" (phases: ${this.phases.map((phase) => phase.name).join(", ")})`);
    return index;
  }
}

/** Metric names, shared by the processor that emits and the report that reads. */
export const tagged = {
  ack: (phase: string, cohort: Cohort) => `chat.ack_latency.${phase}.${cohort}`,
  arrived: (phase: string) => `chat.admission.${phase}.arrived`,
  admitted: (phase: string) => `chat.admission.${phase}.admitted`,
  refused: (phase: string) => `chat.admission.${phase}.refused`,
  neverAdmitted: (phase: string) => `chat.admission.${phase}.never_admitted`,
  timeToAdmitted: (phase: string) => `chat.admission.${phase}.time_to_admitted`,
  /** Seconds after its arrival phase began at which a user got in: its max is the last one in. */
  admittedAtSecond: (phase: string) => `chat.admission.${phase}.admitted_at_s`,
  /** Users of this arrival phase admitted only after it had ended, and (histogram) how many seconds after. */
  admittedAfterEnd: (phase: string) => `chat.admission.${phase}.admitted_after_end`,
  admittedAfterEndSecond: (phase: string) => `chat.admission.${phase}.admitted_after_end_s`,
};

/** What the reduction reads of Artillery's aggregate (artillery-json.ts's MetricsBlock fits). */
export interface AggregateLike {
  counters: Record<string, number>;
  summaries: Record<string, { count: number; p50: number; p99: number; max: number } | undefined>;
}

export interface AckRow {
  phase: string;
  cohort: Cohort;
  count: number;
  p50: number;
  p99: number;
}

export interface AdmissionRow {
  phase: string;
  arrived: number;
  admitted: number;
  refused: number;
  neverAdmitted: number;
  timeToAdmitted: { p50: number; p99: number; max: number } | undefined;
  /** Seconds after this phase began when the last user that arrived in it got in. */
  lastAdmittedAtSecond: number | undefined;
}

export interface SpikeCheck {
  baselinePhase: string;
  splitPhase: string;
  baselineP99: number | undefined;
  incumbentsP99: number | undefined;
  /** undefined: not measurable (no ack of the baseline, or no incumbent sent during the spike). */
  met: boolean | undefined;
}

export interface PerPhase {
  acks: AckRow[];
  admission: AdmissionRow[];
  check: SpikeCheck;
  /** Arrivals of the split phase admitted only after it ended, and how long after it the last of them got in, s. */
  admittedAfterSplit: number;
  lastSplitArrivalInAfterSeconds: number | undefined;
}

/** The per-phase table and the 2× check, from the run's aggregate. */
export function reducePerPhase(aggregate: AggregateLike, phases: readonly PhaseSpan[], splitPhase: string): PerPhase {
  const count = (name: string) => aggregate.counters[name] ?? 0;
  const acks: AckRow[] = [];
  for (const phase of phases) {
    for (const cohort of COHORTS) {
      const summary = aggregate.summaries[tagged.ack(phase.name, cohort)];
      if (summary && summary.count > 0) acks.push({ phase: phase.name, cohort, count: summary.count, p50: summary.p50, p99: summary.p99 });
    }
  }
  const admission = phases.map((phase): AdmissionRow => {
    const wait = aggregate.summaries[tagged.timeToAdmitted(phase.name)];
    return {
      phase: phase.name,
      arrived: count(tagged.arrived(phase.name)),
      admitted: count(tagged.admitted(phase.name)),
      refused: count(tagged.refused(phase.name)),
      neverAdmitted: count(tagged.neverAdmitted(phase.name)),
      timeToAdmitted: wait && wait.count > 0 ? { p50: wait.p50, p99: wait.p99, max: wait.max } : undefined,
      lastAdmittedAtSecond: aggregate.summaries[tagged.admittedAtSecond(phase.name)]?.max,
    };
  });
  const splitIndex = phases.findIndex((phase) => phase.name === splitPhase);
  if (splitIndex < 1)
    throw new Error(`the split phase "${splitPhase}" must follow a baseline phase (phases: ${phases.map((p) => p.name).join(", ")})`);
  const baselinePhase = phases[splitIndex - 1]!.name;
  const p99Of = (phase: string, cohort: Cohort) => acks.find((row) => row.phase === phase && row.cohort === cohort)?.p99;
  const baselineP99 = p99Of(baselinePhase, "incumbent");
  const incumbentsP99 = p99Of(splitPhase, "incumbent");
  const met = baselineP99 === undefined || incumbentsP99 === undefined ? undefined : incumbentsP99 <= 2 * baselineP99;
  return {
    acks,
    admission,
    check: { baselinePhase, splitPhase, baselineP99, incumbentsP99, met },
    admittedAfterSplit: count(tagged.admittedAfterEnd(splitPhase)),
    lastSplitArrivalInAfterSeconds: aggregate.summaries[tagged.admittedAfterEndSecond(splitPhase)]?.max,
  };
}

/** The check as one line: "met" / "missed" / "not measured", with its figures. */
export function checkLine({ check }: PerPhase): string {
  const verdict = check.met === undefined ? "not measured" : check.met ? "**met**" : "**missed**";
  const figures =
    check.met === undefined
      ? `(${check.baselineP99 === undefined ? `no ack in "${check.baselinePhase}"` : `no ack of a user already in during "${check.splitPhase}"`})`
      : `(${check.incumbentsP99} ms vs 2 × ${check.baselineP99} = ${2 * check.baselineP99!} ms)`;
  return `ack p99 of users already in during "${check.splitPhase}" ≤ 2 × "${check.baselinePhase}" p99: ${verdict} ${figures}`;
}

export const PER_PHASE_HEADING = "## Per phase: users already in vs newcomers";

/** The per-phase section of summary.md (and of the console at the end of `npm run load:spike`). */
export function perPhaseMarkdown(
  reduction: PerPhase,
  /** More checks of the same spike, printed right under this one (the report's server-side check). */
  moreChecks: readonly string[] = [],
): string[] {
  const ms = (value: number | undefined) => (value === undefined ? "–" : String(Math.round(value)));
  const lines = [
    PER_PHASE_HEADING,
    "",
    `- ${checkLine(reduction)}`,
    ...moreChecks.map((check) => `- ${check}`),
    `- arrivals of "${reduction.check.splitPhase}" admitted only after it ended: ${reduction.admittedAfterSplit}${
      reduction.lastSplitArrivalInAfterSeconds === undefined
        ? ""
        : `, the last ${reduction.lastSplitArrivalInAfterSeconds.toFixed(0)} s after it ended`
    }`,
    "",
    "Ack latency by the phase the send was made in (exact percentiles over the phase; the last phase includes the drain). `incumbent`: admitted before the spike began.",
    "",
    "| phase | cohort | acks | p50, ms | p99, ms |",
    "|---|---|---|---|---|",
    ...reduction.acks.map((row) => `| ${row.phase} | ${row.cohort} | ${row.count} | ${ms(row.p50)} | ${ms(row.p99)} |`),
    "",
    "Admission by the phase the user arrived in: refusals are handshakes answered 503/429 (or not answered) and retried after Retry-After with backoff; time to admitted includes the gateway's queue.",
    "",
    "| arrived in | users | admitted | refusals | never admitted | time to admitted p50 / p99 / max, ms | last admitted, s after the phase began |",
    "|---|---|---|---|---|---|---|",
    ...reduction.admission.map(
      (row) =>
        `| ${row.phase} | ${row.arrived} | ${row.admitted} | ${row.refused} | ${row.neverAdmitted} | ${
          row.timeToAdmitted ? `${ms(row.timeToAdmitted.p50)} / ${ms(row.timeToAdmitted.p99)} / ${ms(row.timeToAdmitted.max)}` : "–"
        } | ${row.lastAdmittedAtSecond === undefined ? "–" : row.lastAdmittedAtSecond.toFixed(0)} |`,
    ),
    "",
  ];
  return lines;
}
