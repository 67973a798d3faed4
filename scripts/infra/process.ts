/**
 * Child-process supervision shared by `npm start` and the test harness.
 *
 * Every component (Redis, Cassandra, HAProxy, socket nodes, the flusher) runs as a child
 * process in its own process group, so that stopping it also stops anything it forked, and
 * its output goes to a log file rather than interleaving with the orchestrator's console.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, createWriteStream, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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
  /** True once stop() was called: its exit is expected, not a crash (the supervisor leaves it alone). */
  readonly stopRequested: boolean;
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
  // A log file that cannot be written must not take the supervising process down with it.
  log.on("error", (error) => console.error(`${options.name}: could not write ${options.logFile}: ${error.message}`));
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });

  const exited = new Promise<number | string>((resolve, reject) => {
    child.once("error", (error) => reject(new Error(`${options.name}: could not start ${options.command}: ${error.message}`)));
    child.once("exit", (code, signal) => {
      // 'exit' can come before the last of stdout/stderr is read: unpipe first, or that output
      // is written to the ended log (ERR_STREAM_WRITE_AFTER_END, an uncaught exception).
      child.stdout?.unpipe(log);
      child.stderr?.unpipe(log);
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

  let stopRequested = false;
  return {
    name: options.name,
    child,
    logFile: options.logFile,
    exited,
    get stopRequested() {
      return stopRequested;
    },
    async stop(deadlineInMs = 10_000) {
      stopRequested = true;
      if (!alive()) return;
      signalGroup("SIGTERM");
      const timedOut = Symbol("timeout");
      // The timer is cancelled once the child exits, so the caller is not held for the deadline.
      const timer = new AbortController();
      const outcome = await Promise.race([
        exited.catch(() => undefined),
        sleep(deadlineInMs, timedOut, { signal: timer.signal }).catch(() => undefined),
      ]);
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

/**
 * A TCP port for a component that must listen on a port known before it starts (HAProxy's
 * backends, Redis and Cassandra restarted on their data dir, a socket node restarted on its
 * port), reserved for this process's lifetime.
 *
 * Asking the OS for a port (listen on 0) and handing it on is a race: once closed, the kernel
 * may give the same port to anyone's next listen(0) or outgoing connection, and a component
 * stopped and restarted on its port can lose it the same way. So the ports come from below the
 * kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), which the kernel never
 * hands out by itself, and each is reserved with an exclusive lock file naming this process,
 * so no other process using this function (another test file, `npm start`) takes it while
 * this one lives, even while the component is down. A reservation whose process died is
 * reclaimed. What remains: a program that is not ours binding that port by a fixed number
 * between the check and the component's bind.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const [low, high] = reservablePortRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (!reservePort(port)) continue;
    if (await canListen(port, host)) return port;
    releasePort(port);
  }
  throw new Error(`no free port to reserve in ${low}..${high} after 200 tries`);
}

const RESERVATIONS_DIR = join(tmpdir(), "chat-cluster-ports");
const reservedHere = new Set<number>();
let releaseOnExit = false;

/** Ports below the kernel's ephemeral range (from 20000 up, clear of the usual fixed services below). */
function reservablePortRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // Not Linux: the IANA dynamic range starts at 49152; 32768 is below it too.
  }
  return [20_000, Math.max(20_500, ephemeralLow - 1)];
}

/** Creates the port's lock file, or takes over one whose process is gone; false when a live process holds it. */
function reservePort(port: number): boolean {
  mkdirSync(RESERVATIONS_DIR, { recursive: true });
  const path = join(RESERVATIONS_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      reservedHere.add(port);
      if (!releaseOnExit) {
        releaseOnExit = true;
        process.once("exit", () => {
          for (const held of reservedHere) releasePort(held);
        });
      }
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (isAlive(Number(readFileSync(path, "utf8")))) return false;
      // A reservation left by a process that died without releasing it.
      try {
        unlinkSync(path);
      } catch {
        // Another process reclaimed it first; the next openSync tells.
      }
    }
  }
  return false;
}

function releasePort(port: number): void {
  reservedHere.delete(port);
  try {
    unlinkSync(join(RESERVATIONS_DIR, String(port)));
  } catch {
    // Already gone.
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when nothing listens on host:port now. */
function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
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
  watched?.exited.then(
    (code) => (exitedWith = code),
    () => (exitedWith = "spawn error"),
  );
  while (Date.now() < deadline) {
    if (exitedWith !== undefined) {
      throw new Error(`${what}: ${watched?.name} exited (${exitedWith}) before it was ready; see ${watched?.logFile}`);
    }
    if (await probe().catch(() => false)) return;
    await sleep(intervalInMs);
  }
  throw new Error(`${what}: not ready after ${timeoutInMs} ms${watched ? `; see ${watched.logFile}` : ""}`);
}
