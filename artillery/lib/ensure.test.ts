/**
 * The pass/fail of every Artillery suite with an `ensure` (capacity has none on purpose): its
 * conditions, run through Artillery's own ensure plugin against end-of-run counters, pass a
 * clean run and fail one with a duplicate, a loss, or nothing owed at all.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../scripts/infra/paths.js";

const SUITES = ["smoke", "load", "soak", "spike", "storm"];

/** artillery-plugin-ensure's static API (CommonJS, no types): how Artillery judges a run. */
interface EnsurePlugin {
  statsToVars(data: {
    report: { counters: Record<string, number>; rates: Record<string, number>; summaries: Record<string, Record<string, number>> };
  }): unknown;
  runChecks(checks: { conditions: { expression: string }[] }, vars: unknown): { original: string; result: number }[];
}

const require = createRequire(import.meta.url);
const ensure = (require("artillery-plugin-ensure") as { Plugin: EnsurePlugin }).Plugin;

/** The `ensure.conditions` expressions of a suite (one `- expression: "..."` per line). */
function conditionsOf(suite: string): string[] {
  const text = readFileSync(join(REPO_ROOT, "artillery", `${suite}.yml`), "utf8");
  return [...text.matchAll(/^\s*- expression: "([^"]+)"\s*$/gm)].map((match) => match[1]!);
}

/** The conditions that fail on a run ending with `counters`. */
function failing(suite: string, counters: Record<string, number>): string[] {
  // runChecks logs through Artillery's global logger.
  (globalThis as { artillery?: unknown }).artillery ??= { log: () => undefined };
  const vars = ensure.statsToVars({ report: { counters, rates: {}, summaries: {} } });
  return ensure
    .runChecks({ conditions: conditionsOf(suite).map((expression) => ({ expression })) }, vars)
    .filter((check) => check.result !== 1)
    .map((check) => check.original);
}

/** Counters of a clean run, as the virtual users emit them (storm's own included). */
const CLEAN: Record<string, number> = {
  "vusers.created": 20,
  "vusers.failed": 0,
  "chat.messages_sent": 200,
  "chat.messages_acked": 200,
  "chat.messages_expected": 1500,
  "chat.messages_lost": 0,
  "chat.messages_duplicated": 0,
  "chat.unexpected_duplicate_acks": 0,
  "chat.storm_gaps": 0,
  "chat.reconnects": 20,
  "chat.changes_acked": 40,
  "chat.changes_verified": 35,
  "chat.changes_lost": 0,
  "chat.change_deliveries_expected": 300,
  "chat.change_deliveries_lost": 0,
  "chat.changes_duplicated": 0,
  "chat.never_admitted": 0,
};

/** The suites whose users edit, delete and react (a `changeMessages` step in their flow). */
const WITH_CHANGES = SUITES.filter((suite) =>
  readFileSync(join(REPO_ROOT, "artillery", `${suite}.yml`), "utf8").includes("changeMessages"),
);

for (const suite of SUITES) {
  test(`${suite}.yml: ensure passes a clean run and fails on duplicates, losses and an empty run`, () => {
    assert.deepEqual(failing(suite, CLEAN), [], "a clean run passes");
    assert.ok(failing(suite, { ...CLEAN, "chat.messages_duplicated": 1 }).length > 0, "a message delivered twice live fails the run");
    assert.ok(
      failing(suite, { ...CLEAN, "chat.unexpected_duplicate_acks": 1 }).length > 0,
      "a new clientId acknowledged as a duplicate fails the run",
    );
    assert.ok(failing(suite, { ...CLEAN, "chat.messages_lost": 1 }).length > 0, "a lost message fails the run");
    assert.ok(failing(suite, { ...CLEAN, "chat.messages_expected": 0 }).length > 0, "a run that owed no delivery proves nothing and fails");
    assert.ok(failing(suite, { ...CLEAN, "chat.messages_acked": 0 }).length > 0, "a run with no acknowledged send fails");
    const { ["chat.messages_duplicated"]: _duplicated, ...withoutDuplicateCounter } = CLEAN;
    assert.ok(failing(suite, withoutDuplicateCounter).length > 0, "a run that never emitted the duplicate counter is not taken as clean");
  });
}

test("smoke, load, soak and spike make changes", () => {
  assert.deepEqual(WITH_CHANGES, ["smoke", "load", "soak", "spike"]);
});

for (const suite of WITH_CHANGES) {
  test(`${suite}.yml: ensure fails on a lost or duplicated change, and on a run that acknowledged or checked none`, () => {
    assert.ok(failing(suite, { ...CLEAN, "chat.changes_lost": 1 }).length > 0, "an acknowledged change missing from history fails the run");
    assert.ok(failing(suite, { ...CLEAN, "chat.change_deliveries_lost": 1 }).length > 0, "a change a member never received fails the run");
    assert.ok(failing(suite, { ...CLEAN, "chat.changes_duplicated": 1 }).length > 0, "a change delivered twice live fails the run");
    assert.ok(failing(suite, { ...CLEAN, "chat.changes_acked": 0 }).length > 0, "a run that acknowledged no change proves nothing");
    assert.ok(
      failing(suite, { ...CLEAN, "chat.changes_verified": 0 }).length > 0,
      "a run that checked no change in history proves nothing",
    );
    const { ["chat.changes_lost"]: _lost, ...withoutLostCounter } = CLEAN;
    assert.ok(failing(suite, withoutLostCounter).length > 0, "a run that never emitted the changes-lost counter is not taken as clean");
  });
}

test("spike.yml: ensure fails when a newcomer never got in, or the never-admitted counter was never emitted", () => {
  assert.ok(failing("spike", { ...CLEAN, "chat.never_admitted": 1 }).length > 0, "a user still refused after the spike fails the run");
  const { ["chat.never_admitted"]: _never, ...withoutNeverAdmitted } = CLEAN;
  assert.ok(failing("spike", withoutNeverAdmitted).length > 0, "a run that never counted admissions is not taken as clean");
});
