import assert from "node:assert/strict";
import { test } from "node:test";
import type { ManagedProcess } from "./process.js";
import { Supervisor, type SupervisedComponent } from "./supervisor.js";

/** A process that exits when told to: crash() (unexpected) or stop() (asked). */
function fakeProcess(name: string) {
  let exit!: (code: number | string) => void;
  const exited = new Promise<number | string>((resolve) => (exit = resolve));
  let stopRequested = false;
  const process = {
    name,
    logFile: `${name}.log`,
    exited,
    get stopRequested() {
      return stopRequested;
    },
    async stop() {
      stopRequested = true;
      exit(0);
    },
    async kill() {
      exit("SIGKILL");
    },
  } as unknown as ManagedProcess;
  return { process, crash: () => exit("SIGKILL") };
}

function component(name: string) {
  let current = fakeProcess(name);
  let starts = 0;
  const supervised: SupervisedComponent = {
    name,
    current: () => current.process,
    restart: async () => {
      starts++;
      current = fakeProcess(name);
    },
  };
  return {
    supervised,
    crash: () => current.crash(),
    replace: async () => (await current.process.stop(), (current = fakeProcess(name))),
    starts: () => starts,
  };
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("a process that exits on its own is restarted after a backoff that doubles", async () => {
  const lines: string[] = [];
  const supervisor = new Supervisor({
    log: (line) => lines.push(line),
    onCrashLoop: () => assert.fail("no crash loop"),
    initialBackoffInMs: 20,
    maxBackoffInMs: 1000,
  });
  const node = component("n1");
  supervisor.watch(node.supervised);
  node.crash();
  await tick(10);
  assert.equal(node.starts(), 0, "not before the backoff");
  await tick(30);
  assert.equal(node.starts(), 1);
  node.crash();
  await tick(30);
  assert.equal(node.starts(), 1, "the second backoff is twice the first");
  await tick(30);
  assert.equal(node.starts(), 2);
  assert.equal(supervisor.restarts.length, 2);
  assert.ok(
    lines.some((line) => line.includes("n1 exited unexpectedly (SIGKILL)")),
    lines.join("\n"),
  );
  await supervisor.stop();
});

test("more than maxRestarts exits within the window is a crash loop: reported once, not restarted", async () => {
  const reasons: string[] = [];
  const supervisor = new Supervisor({
    log: () => undefined,
    onCrashLoop: (reason) => reasons.push(reason),
    maxRestarts: 3,
    windowInMs: 60_000,
    initialBackoffInMs: 1,
    maxBackoffInMs: 2,
  });
  const flusher = component("flusher-1");
  supervisor.watch(flusher.supervised);
  for (let i = 0; i < 4; i++) {
    flusher.crash();
    await tick(20);
  }
  assert.equal(flusher.starts(), 3);
  assert.equal(reasons.length, 1);
  assert.match(reasons[0]!, /flusher-1 is crash-looping.*3 restarts in the last 60 s/);
  await supervisor.stop();
});

test("a process stopped on purpose is not restarted, and its replacement is watched", async () => {
  const supervisor = new Supervisor({ log: () => undefined, onCrashLoop: () => assert.fail("no crash loop"), initialBackoffInMs: 1 });
  const node = component("n2");
  supervisor.watch(node.supervised);
  await node.replace();
  await tick(300);
  assert.equal(node.starts(), 0, "a deliberate stop is not a crash");
  node.crash();
  await tick(50);
  assert.equal(node.starts(), 1, "the replacement is supervised");
  await supervisor.stop();
});

test("stop() cancels a pending restart", async () => {
  const supervisor = new Supervisor({ log: () => undefined, onCrashLoop: () => assert.fail("no crash loop"), initialBackoffInMs: 50 });
  const redis = component("redis");
  supervisor.watch(redis.supervised);
  redis.crash();
  await tick(5);
  await supervisor.stop();
  await tick(80);
  assert.equal(redis.starts(), 0);
});

test("a restart that fails (and stopped the old process first, as restartNode does) is retried after the next backoff", async () => {
  const supervisor = new Supervisor({ log: () => undefined, onCrashLoop: () => assert.fail("no crash loop"), initialBackoffInMs: 5 });
  let current = fakeProcess("flusher-1");
  let attempts = 0;
  supervisor.watch({
    name: "flusher-1",
    current: () => current.process,
    restart: async () => {
      attempts++;
      await current.process.stop();
      if (attempts === 1) throw new Error("exited before listening");
      current = fakeProcess("flusher-1");
    },
  });
  current.crash();
  await tick(100);
  assert.equal(attempts, 2);
  assert.equal(supervisor.restarts.length, 1);
  await supervisor.stop();
});
