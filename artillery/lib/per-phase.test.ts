import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../scripts/infra/paths.js";
import { checkLine, perPhaseMarkdown, PhaseClock, phasesOfSuite, reducePerPhase, tagged, type AggregateLike } from "./per-phase.js";

const PHASES = phasesOfSuite(
  'config:\n  phases: [{ "name": "steady", "duration": 90, "arrivalCount": 819 }, { "name": "Spike ×3", "duration": 60, "arrivalRate": 39 }, { "name": "recovery", "duration": 120 }]\n',
);

test("phases come from the suite's phases (a JSON flow sequence), named for metrics, end to end on the run's clock", () => {
  assert.deepEqual(PHASES, [
    { name: "steady", startsAtMs: 0, endsAtMs: 90_000 },
    { name: "spike_3", startsAtMs: 90_000, endsAtMs: 150_000 },
    { name: "recovery", startsAtMs: 150_000, endsAtMs: 270_000 },
  ]);
  assert.throws(() => phasesOfSuite("config:\n  phases:\n    - { duration: 60 }\n"), /JSON flow sequence/);
  assert.throws(() => phasesOfSuite('phases: [{ "name": "a" }]'), /duration/);
  const spike = phasesOfSuite(readFileSync(join(REPO_ROOT, "artillery", "spike.yml"), "utf8"));
  assert.deepEqual(
    spike.map((phase) => phase.name),
    ["steady", "spike", "recovery"],
  );
});

test("the clock puts a moment in its phase (the drain in the last) and a user in its cohort by when it got in", () => {
  const clock = new PhaseClock(PHASES, 1_000_000);
  assert.equal(clock.phaseAt(1_000_000 - 500), "steady");
  assert.equal(clock.phaseAt(1_000_000 + 89_999), "steady");
  assert.equal(clock.phaseAt(1_000_000 + 90_000), "spike_3");
  assert.equal(clock.phaseAt(1_000_000 + 149_999), "spike_3");
  assert.equal(clock.phaseAt(1_000_000 + 150_000), "recovery");
  assert.equal(clock.phaseAt(1_000_000 + 400_000), "recovery", "the drain after the last phase");
  assert.equal(clock.cohortOf(1_000_000 + 89_999, "spike_3"), "incumbent");
  assert.equal(clock.cohortOf(1_000_000 + 90_000, "spike_3"), "newcomer");
  assert.throws(() => clock.cohortOf(0, "surge"), /no phase named "surge"/);
});

test("a phase Artillery started late moves, with the phases after it, to when it really started", () => {
  const clock = new PhaseClock(PHASES, 1_000_000);
  clock.started(0, 1_000_300);
  clock.started(1, 1_000_000 + 112_000); // a starved generator ended "steady" 22 s late
  assert.equal(clock.phaseAt(1_000_000 + 100_000), "steady");
  assert.equal(clock.phaseAt(1_000_000 + 112_000), "spike_3");
  assert.equal(clock.startOf("recovery"), 1_000_000 + 172_000, "the next phase keeps its planned distance until it is seen");
  assert.equal(clock.cohortOf(1_000_000 + 111_000, "spike_3"), "incumbent");
  clock.started(2, 1_000_000 + 200_000);
  assert.equal(clock.phaseAt(1_000_000 + 199_999), "spike_3");
  assert.equal(clock.phaseAt(1_000_000 + 200_000), "recovery");
  clock.started(7, 0);
  assert.equal(clock.phaseAt(1_000_000 + 200_000), "recovery", "an unknown phase index changes nothing");
  assert.equal(clock.endOf("spike_3"), undefined, "not ended until Artillery says so");
  clock.completed(1, 1_000_000 + 199_000);
  assert.equal(clock.endOf("spike_3"), 1_000_000 + 199_000);
});

function aggregate(acks: Record<string, [number, number, number]>, extra: Partial<AggregateLike> = {}): AggregateLike {
  const summaries: AggregateLike["summaries"] = {};
  for (const [name, [count, p50, p99]] of Object.entries(acks)) summaries[name] = { count, p50, p99, max: p99 * 2 };
  return { counters: { ...extra.counters }, summaries: { ...summaries, ...extra.summaries } };
}

test("the 2× check compares the incumbents' spike p99 with the steady phase's p99", () => {
  const within = reducePerPhase(
    aggregate({
      [tagged.ack("steady", "incumbent")]: [900, 8, 40],
      [tagged.ack("spike_3", "incumbent")]: [400, 12, 80],
      [tagged.ack("spike_3", "newcomer")]: [1500, 30, 400],
      [tagged.ack("recovery", "newcomer")]: [2000, 9, 50],
    }),
    PHASES,
    "spike_3",
  );
  assert.deepEqual(within.check, { baselinePhase: "steady", splitPhase: "spike_3", baselineP99: 40, incumbentsP99: 80, met: true });
  assert.deepEqual(
    within.acks.map((row) => `${row.phase}/${row.cohort}: ${row.count} ${row.p50}/${row.p99}`),
    ["steady/incumbent: 900 8/40", "spike_3/incumbent: 400 12/80", "spike_3/newcomer: 1500 30/400", "recovery/newcomer: 2000 9/50"],
  );
  assert.match(checkLine(within), /\*\*met\*\* \(80 ms vs 2 × 40 = 80 ms\)/);

  const beyond = reducePerPhase(
    aggregate({ [tagged.ack("steady", "incumbent")]: [900, 8, 40], [tagged.ack("spike_3", "incumbent")]: [400, 12, 81] }),
    PHASES,
    "spike_3",
  );
  assert.equal(beyond.check.met, false, "the newcomers' p99 does not count, the incumbents' does");
  assert.match(checkLine(beyond), /\*\*missed\*\*/);

  const unmeasured = reducePerPhase(aggregate({ [tagged.ack("steady", "incumbent")]: [900, 8, 40] }), PHASES, "spike_3");
  assert.equal(unmeasured.check.met, undefined);
  assert.match(checkLine(unmeasured), /not measured \(no ack of a user already in/);
  assert.throws(() => reducePerPhase(aggregate({}), PHASES, "steady"), /must follow a baseline phase/);
});

test("admission per arrival phase: users, refusals, never admitted, wait, and how long after the spike its last arrival got in", () => {
  const reduction = reducePerPhase(
    aggregate(
      {},
      {
        counters: {
          [tagged.arrived("steady")]: 819,
          [tagged.admitted("steady")]: 819,
          [tagged.arrived("spike_3")]: 2340,
          [tagged.admitted("spike_3")]: 2339,
          [tagged.refused("spike_3")]: 5120,
          [tagged.neverAdmitted("spike_3")]: 1,
          [tagged.admittedAfterEnd("spike_3")]: 1200,
        },
        summaries: {
          [tagged.timeToAdmitted("spike_3")]: { count: 2339, p50: 4000, p99: 95_000, max: 120_000 },
          [tagged.admittedAtSecond("spike_3")]: { count: 2339, p50: 140, p99: 260, max: 262.4 },
          [tagged.admittedAfterEndSecond("spike_3")]: { count: 1200, p50: 50, p99: 190, max: 202.4 },
        },
      },
    ),
    PHASES,
    "spike_3",
  );
  assert.deepEqual(reduction.admission[0], {
    phase: "steady",
    arrived: 819,
    admitted: 819,
    refused: 0,
    neverAdmitted: 0,
    timeToAdmitted: undefined,
    lastAdmittedAtSecond: undefined,
  });
  assert.deepEqual(reduction.admission[1], {
    phase: "spike_3",
    arrived: 2340,
    admitted: 2339,
    refused: 5120,
    neverAdmitted: 1,
    timeToAdmitted: { p50: 4000, p99: 95_000, max: 120_000 },
    lastAdmittedAtSecond: 262.4,
  });
  assert.equal(reduction.admittedAfterSplit, 1200);
  assert.equal(reduction.lastSplitArrivalInAfterSeconds, 202.4);
  assert.match(perPhaseMarkdown(reduction).join("\n"), /admitted only after it ended: 1200, the last 202 s after it ended/);
});
