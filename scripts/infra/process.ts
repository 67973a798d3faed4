/**
 * Child-process supervision shared by `npm start` and the test harness.
 *
 * Every component (Redis, Cassandra, HAProxy, socket nodes, the flusher) runs as a child
 * process in its own process group, so that stopping it also stops anything it forked, and
 * its output goes to a log file rather than interleaving with the orchestrator's console.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface ManagedProcessOptions {
  /** A short name used in errors and log lines, e.g. "redis" or "node-1". */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where stdout and stderr are appended. */
  logFile: string;
  /** Open an IPC channel (for node children that report their port with process.send). */
  ipc?: boolean;
}

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** SIGTERM the process group, then SIGKILL it if it is still alive after `deadlineInMs`. */
  stop(deadlineInMs?: number): Promise<void>;
  /** SIGKILL the whole process group at once (fault tests). */
  kill(): Promise<void>;
}

export function startProcess(options: ManagedProcessOptions): ManagedProcess {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile, { flags: "a" });
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    // detached puts the child in a new process group, so stop() can signal all of it.
    detached: true,
    stdio: options.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });

  const exited = new Promise<number | string>((resolve, reject) => {
    child.once("error", (error) => reject(new Error(`${options.name}: could not start ${options.command}: ${error.message}`)));
    child.once("exit", (code, signal) => {
      log.end();
      resolve(code ?? signal ?? "unknown");
    });
  });
  // A rejected `exited` must not become an unhandled rejection when nobody awaits it.
  exited.catch(() => undefined);

  const alive = () => child.exitCode === null && child.signalCode === null;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // ESRCH: the group is already gone, which is what we wanted.
    }
  };

  return {
    name: options.name,
    child,
    logFile: options.logFile,
    exited,
    async stop(deadlineInMs = 10_000) {
      if (!alive()) return;
      signalGroup("SIGTERM");
      const timedOut = Symbol("timeout");
      // The timer is cancelled once the child exits, so the caller is not held for the deadline.
      const timer = new AbortController();
      const outcome = await Promise.race([exited.catch(() => undefined), sleep(deadlineInMs, timedOut, { signal: timer.signal }).catch(() => undefined)]);
      timer.abort();
      if (outcome === timedOut) {
        signalGroup("SIGKILL");
        await exited.catch(() => undefined);
      }
    },
    async kill() {
      if (!alive()) return;
      signalGroup("SIGKILL");
      await exited.catch(() => undefined);
    },
  };
}

/** Asks the OS for a free TCP port on the loopback interface. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when something accepts TCP connections on host:port. */
export async function isPortOpen(port: number, host = "127.0.0.1", timeoutInMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutInMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Polls `probe` until it returns true. Fails with `what` and the process's log file named when
 * the deadline passes or the watched process exits first, so a failed start says where to look.
 */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  { timeoutInMs, intervalInMs = 250, process: watched }: { timeoutInMs: number; intervalInMs?: number; process?: ManagedProcess },
): Promise<void> {
  const deadline = Date.now() + timeoutInMs;
  let exitedWith: number | string | undefined;
  watched?.exited.then((code) => (exitedWith = code), () => (exitedWith = "spawn error"));
  while (Date.now() < deadline) {
    if (exitedWith !== undefined) {
      throw new Error(`${what}: ${watched?.name} exited (${exitedWith}) before it was ready; see ${watched?.logFile}`);
    }
    if (await probe().catch(() => false)) return;
    await sleep(intervalInMs);
  }
  throw new Error(`${what}: not ready after ${timeoutInMs} ms${watched ? `; see ${watched.logFile}` : ""}`);
}
