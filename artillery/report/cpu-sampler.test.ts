import { test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { CpuSampler, parseMachineStat, parseProcessStat } from "./cpu-sampler.js";

/** A /proc/<pid>/stat line: `comm` as given, then fields 3..52 with utime (14), stime (15) and starttime (22) set. */
function statLine(pid: number, comm: string, utime: number, stime: number, starttime: number): string {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3 === 3 ? "S" : 7));
  fields[14 - 3] = String(utime);
  fields[15 - 3] = String(stime);
  fields[22 - 3] = String(starttime);
  return `${pid} (${comm}) ${fields.join(" ")}\n`;
}

test("a stat line whose command name holds spaces and parentheses is read after its last ')'", () => {
  const line = statLine(4242, "my (odd) worker) 1 2", 150, 50, 987654);
  assert.deepEqual(parseProcessStat(line, 4242), { pid: 4242, startedAtTicks: 987654, cpuTicks: 200 });
  // A plain one, as the kernel writes it for node.
  assert.equal(parseProcessStat(statLine(7, "node", 3, 4, 5), 7).cpuTicks, 7);
});

test("a stat line that is not one is refused with what was wrong", () => {
  assert.throws(() => parseProcessStat("4242 node S 1 2 3", 4242), /no "\)"/);
  assert.throws(() => parseProcessStat(statLine(1, "x", 1, 2, 3).replace(" 1 2 ", " 1 x "), 1), /field 15 is not a tick count/);
  assert.throws(() => parseProcessStat("1 (short) S 1 2", 1), /is not a tick count: "undefined"/);
});

test("the machine's busy and idle ticks: guest time is inside user already, iowait is idle", () => {
  const text = [
    "cpu  1000 20 300 5000 40 0 50 6 700 1",
    "cpu0 500 10 150 2500 20 0 25 3 350 0",
    "cpu1 500 10 150 2500 20 0 25 3 350 1",
    "intr 1 2 3",
    "ctxt 99",
  ].join("\n");
  assert.deepEqual(parseMachineStat(text), { ticks: { busy: 1000 + 20 + 300 + 0 + 50 + 6, idle: 5000 + 40 }, cores: 2 });
  assert.throws(() => parseMachineStat("intr 1 2 3\n"), /no "cpu" line/);
});

test("a process that has exited is recorded as not running, without a failure; an unreadable line is counted as one", () => {
  const files = new Map<string, string>([
    ["/proc/stat", "cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 10 0 10 80 0 0 0 0 0 0\n"],
    ["/proc/11/stat", statLine(11, "node", 5, 5, 100)],
    ["/proc/12/stat", "garbage"],
  ]);
  const read = (path: string) => {
    const text = files.get(path);
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: "ENOENT" });
    return text;
  };
  const sampler = new CpuSampler(
    [
      { label: "alive", pid: () => 11 },
      { label: "gone", pid: () => 13 },
      { label: "not started", pid: () => undefined },
      { label: "garbled", pid: () => 12 },
    ],
    1000,
    read,
    100,
  );
  sampler.sampleOnce();
  files.delete("/proc/11/stat");
  sampler.sampleOnce();
  assert.deepEqual(sampler.samples[0]!.processes, {
    alive: { pid: 11, startedAtTicks: 100, cpuTicks: 10 },
    gone: null,
    "not started": null,
    garbled: null,
  });
  assert.equal(sampler.samples[1]!.processes["alive"], null);
  assert.deepEqual(sampler.samples[0]!.machine, { busy: 20, idle: 80 });
  const record = sampler.record("scope");
  assert.equal(record.cores, 1);
  assert.deepEqual(record.labels, ["alive", "gone", "not started", "garbled"]);
  assert.deepEqual(Object.values(record.failures), [2], "the garbled line, once per sample; the gone pid is no failure");
  assert.match(Object.keys(record.failures)[0]!, /^garbled: /);
});

test("this process's own CPU time grows while it computes, within what its wall time allows", () => {
  const sampler = new CpuSampler([{ label: "self", pid: () => process.pid }], 1000);
  assert.ok(Number.isInteger(sampler.ticksPerSecond) && sampler.ticksPerSecond > 0);
  const startedAt = process.hrtime.bigint();
  sampler.sampleOnce();
  let spin = 0;
  while (process.hrtime.bigint() - startedAt < 300_000_000n) spin += Math.sqrt(spin + 1);
  sampler.sampleOnce();
  const wallSeconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  assert.ok(spin > 0);
  const [before, after] = sampler.samples;
  const cpuSeconds = (after!.processes["self"]!.cpuTicks - before!.processes["self"]!.cpuTicks) / sampler.ticksPerSecond;
  assert.ok(cpuSeconds > 0, `CPU time did not grow over ${wallSeconds} s of computing`);
  // One tick of slack: the kernel accounts in whole ticks.
  assert.ok(cpuSeconds <= wallSeconds * availableParallelism() + 1 / sampler.ticksPerSecond, `${cpuSeconds} s of CPU in ${wallSeconds} s`);
  assert.ok(after!.machine!.busy > before!.machine!.busy, "the machine was busy while this process computed");
});
