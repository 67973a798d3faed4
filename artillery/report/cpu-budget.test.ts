import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArtilleryResult, MetricsBlock } from "./artillery-json.js";
import { ackedSendsBetween, cpuSection, cpuUse, cpuWindows } from "./cpu-budget.js";
import type { CpuRecord, CpuSample, ProcessTicks } from "./cpu-sampler.js";
import { renderReport, rerenderReport } from "./render.js";

const T0 = 1_700_000_000_000;
const p = (pid: number, cpuTicks: number, startedAtTicks = 1): ProcessTicks => ({ pid, startedAtTicks, cpuTicks });

function sample(second: number, busy: number, idle: number, processes: CpuSample["processes"]): CpuSample {
  return { at: T0 + second * 1000, machine: { busy, idle }, processes };
}

/**
 * 100 ticks/s, samples at 0, 1, 2, 3 s on 2 cores. `node` uses 0.5 then 1.0 then 0.5 core; `flusher`
 * exits after 1 s; `artillery` starts after 1 s; `redis` is restarted (new pid) after 2 s.
 */
const RECORD: CpuRecord = {
  intervalInMs: 1000,
  ticksPerSecond: 100,
  cores: 2,
  labels: ["node", "flusher", "artillery", "redis", "never"],
  scope: "Listed: the test's.",
  failures: {},
  samples: [
    sample(0, 1000, 1000, { node: p(10, 500), flusher: p(11, 100), artillery: null, redis: p(13, 40), never: null }),
    sample(1, 1160, 1040, { node: p(10, 550), flusher: p(11, 130), artillery: null, redis: p(13, 50), never: null }),
    sample(2, 1340, 1060, { node: p(10, 650), flusher: null, artillery: p(12, 30), redis: p(13, 60), never: null }),
    sample(3, 1500, 1100, { node: p(10, 700), flusher: null, artillery: p(12, 90), redis: p(14, 5, 9), never: null }),
  ],
};

const use = (from: number, to: number) => {
  const u = cpuUse(RECORD, { label: "w", from: T0 + from * 1000, to: T0 + to * 1000, ackedSends: 100 });
  return { ...u, by: Object.fromEntries(u.components.map((c) => [c.label, c])) };
};

test("cores used per window: CPU ticks between samples over the wall time the window covers", () => {
  const whole = use(0, 3);
  assert.equal(whole.wallSeconds, 3);
  assert.ok(Math.abs(whole.by["node"]!.cpuSeconds - 2) < 1e-9);
  // Exited after its sample at 1 s: 0.3 s counted, the rest is lost (and flagged).
  assert.ok(Math.abs(whole.by["flusher"]!.cpuSeconds - 0.3) < 1e-9);
  assert.equal(whole.by["flusher"]!.exited, true);
  // Started between 1 and 2 s: counted from zero.
  assert.ok(Math.abs(whole.by["artillery"]!.cpuSeconds - 0.9) < 1e-9);
  assert.equal(whole.by["artillery"]!.exited, false);
  // Restarted under pid 14 between 2 and 3 s: the new process counts from zero, the old one's tail is lost.
  assert.ok(Math.abs(whole.by["redis"]!.cpuSeconds - 0.25) < 1e-9);
  assert.equal(whole.by["redis"]!.exited, true);
  assert.deepEqual([whole.by["never"]!.seen, whole.by["never"]!.cpuSeconds], [false, 0]);
  // The machine: 500 busy and 100 idle ticks.
  assert.ok(Math.abs(whole.machine!.busySeconds - 5) < 1e-9);
  assert.ok(Math.abs(whole.machine!.share - 500 / 600) < 1e-9);
  assert.ok(Math.abs(whole.otherSeconds! - (5 - 2 - 0.3 - 0.9 - 0.25)) < 1e-9, "other = machine busy minus the listed");
});

test("a window that cuts an interval takes its share of that interval's CPU", () => {
  const middle = use(0.5, 1.5);
  assert.equal(middle.wallSeconds, 1);
  // Half of 0.5 s (0..1 s) and half of 1.0 s (1..2 s).
  assert.ok(Math.abs(middle.by["node"]!.cpuSeconds - 0.75) < 1e-9);
  assert.ok(Math.abs(middle.machine!.busySeconds - (0.5 * 1.6 + 0.5 * 1.8)) < 1e-9);
  // Outside the samples: nothing covered.
  assert.equal(use(5, 9).wallSeconds, 0);
});

test("a window without the machine's figures says so rather than guessing 'other'", () => {
  const record: CpuRecord = { ...RECORD, samples: RECORD.samples.map((s, i) => (i === 2 ? { ...s, machine: undefined } : s)) };
  const u = cpuUse(record, { label: "w", from: T0, to: T0 + 3000, ackedSends: undefined });
  assert.equal(u.machine, undefined);
  assert.equal(u.otherSeconds, undefined);
});

function block(second: number, acked: number): MetricsBlock {
  return { counters: { "chat.messages_acked": acked }, summaries: {}, period: T0 + second * 1000, firstMetricAt: 0, lastMetricAt: 0 };
}

const RESULT: ArtilleryResult = {
  aggregate: { ...block(0, 0), counters: { "chat.messages_acked": 3000 } },
  intermediate: [block(0, 1000), block(10, 2000)],
};

test("acked sends per window come from the 10-s periods, each counted for the part inside", () => {
  assert.equal(ackedSendsBetween(RESULT, T0, T0 + 20_000), 3000);
  assert.equal(ackedSendsBetween(RESULT, T0 + 5000, T0 + 15_000), 500 + 1000);
  assert.equal(ackedSendsBetween(RESULT, T0 + 30_000, T0 + 40_000), 0);
});

test("windows: the whole run (aggregate count) and each phase when there are several", () => {
  const record: CpuRecord = { ...RECORD, samples: [RECORD.samples[0]!, { ...RECORD.samples[3]!, at: T0 + 20_000 }] };
  assert.deepEqual(
    cpuWindows(record, RESULT, [{ name: "only", startedAt: T0 + 1000 }]).map((w) => w.label),
    ["whole run"],
  );
  const windows = cpuWindows(record, RESULT, [
    { name: "warm", startedAt: T0 },
    { name: "peak", startedAt: T0 + 5000 },
  ]);
  assert.deepEqual(
    windows.map((w) => [w.label, w.from - T0, w.to - T0, w.ackedSends]),
    [
      ["whole run", 0, 20_000, 3000],
      ["warm", 0, 5000, 500],
      ["peak", 5000, 20_000, 2500],
    ],
  );
  assert.equal(cpuWindows(record, undefined, [])[0]!.ackedSends, undefined);
  assert.deepEqual(cpuWindows({ ...record, samples: [] }, RESULT, []), []);
});

test("the section: one row per listed process, other and the machine, cores · ms per acked send", () => {
  const md = cpuSection(RECORD, [
    { label: "whole run", from: T0, to: T0 + 3000, ackedSends: 100 },
    { label: "late", from: T0 + 2000, to: T0 + 3000, ackedSends: 0 },
  ]).join("\n");
  assert.match(md, /^## Where the CPU went/);
  assert.match(md, /read every 1000 ms \(100 ticks\/s\)/);
  assert.match(md, /- Listed: the test's\./);
  assert.match(md, /\| component \| whole run \(3 s\) \| late \(1 s\) \|/);
  // node: 2 CPU s over 3 s = 0.67 cores, 2000 ms / 100 sends = 20 ms; in "late" no send was acked.
  assert.match(md, /\| node \| 0\.67 · 20\.0 ms \| 0\.50 · – \|/);
  assert.match(md, /\| flusher \| 0\.10 · 3\.00 ms † \| – \|/);
  assert.match(md, /\| never \| – \| – \|/);
  assert.match(md, /\| other \(machine busy − the above\) \| 0\.52 · 15\.5 ms \|/);
  assert.match(md, /\| \*\*machine busy\*\* \| \*\*1\.67 · 50\.0 ms\*\* \(83 % of 2 cores\) \|/);
  assert.match(md, /\| acked sends \(per s\) \| 100 \(33\.3\/s\) \| 0 \(0\.0\/s\) \|/);
  assert.match(md, /† exited or restarted/);
  assert.deepEqual(cpuSection(undefined, []), [], "a report saved before CPU samples has no section");
  assert.match(cpuSection({ ...RECORD, samples: RECORD.samples.slice(0, 1) }, []).join("\n"), /Fewer than two CPU samples/);
  assert.match(
    cpuSection({ ...RECORD, failures: { "redis: EACCES": 3 } }, cpuWindows(RECORD, undefined, [])).join("\n"),
    /- 3× redis: EACCES/,
  );
});

test("the report keeps cpu-samples.json and renders the section again from it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cpu-report-"));
  try {
    writeFileSync(join(dir, "artillery.json"), JSON.stringify(RESULT));
    writeFileSync(join(dir, "artillery.log"), "");
    writeFileSync(join(dir, "smoke.yml"), "config: {}\n");
    const summary = await renderReport({
      suite: "smoke",
      suiteFile: join(dir, "smoke.yml"),
      target: "http://127.0.0.1:1",
      targetDescription: "test",
      scrapeDescription: "none",
      artilleryJsonFile: join(dir, "artillery.json"),
      artilleryLog: "",
      artilleryExitCode: 0,
      serverSamples: [],
      scrapeFailures: new Map(),
      cpu: RECORD,
      reportDir: dir,
      startedAt: T0,
    });
    const first = readFileSync(summary, "utf8");
    assert.match(first, /## Where the CPU went[\s\S]*\| node \| 0\.67 · 0\.67 ms \|/);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "cpu-samples.json"), "utf8")), RECORD);
    writeFileSync(summary, "");
    assert.equal(readFileSync(await rerenderReport(dir), "utf8"), first);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
