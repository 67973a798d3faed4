/**
 * Restarts the local cluster's components when they exit on their own, the way Kubernetes
 * restarts a container: after a backoff that doubles with each restart, and with a crash-loop
 * limit. `npm start` runs one (scripts/cluster.ts), so a user who kills a node to watch its
 * clients move sees the node come back instead of the whole cluster going down.
 *
 * A component is watched through its current process: when that process exits and nobody asked
 * it to stop (ManagedProcess.stopRequested), the component is restarted by its own `restart`
 * (Redis on its AOF, Cassandra on its data dir, a node on its port), which replaces the process
 * the supervisor then watches. A restart that fails to start counts as one more exit.
 */
import type { ManagedProcess } from "./process.js";

export interface SupervisedComponent {
  /** Shown in the loud lines, e.g. "redis", "n1". */
  name: string;
  /** The process that runs the component now; a restart replaces it. */
  current(): ManagedProcess;
  /** Starts the component again (its old process has exited) and resolves once it is ready. */
  restart(): Promise<void>;
}

export interface SupervisorOptions {
  /** Loud lines: every unexpected exit and every restart. */
  log(line: string): void;
  /** Called once, when a component crash-loops: the caller stops the cluster. */
  onCrashLoop(reason: string): void;
  /** The crash-loop limit: more than `maxRestarts` restarts of one component within `windowInMs` (5 in 60 s). */
  maxRestarts?: number;
  windowInMs?: number;
  /** First backoff, doubled per restart within the window, up to maxBackoffInMs (0.5 s … 8 s). */
  initialBackoffInMs?: number;
  maxBackoffInMs?: number;
}

export interface RestartRecord {
  component: string;
  /** When the exit was seen and when the component was ready again (ms since the epoch). */
  exitedAt: number;
  readyAt: number;
  exitCode: number | string;
}

export class Supervisor {
  private stopping = false;
  private gaveUp = false;
  private readonly restartsAt = new Map<string, number[]>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly backoffTimers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  /** Every completed restart, in order (tests read it). */
  readonly restarts: RestartRecord[] = [];
  private readonly maxRestarts: number;
  private readonly windowInMs: number;
  private readonly initialBackoffInMs: number;
  private readonly maxBackoffInMs: number;

  constructor(private readonly options: SupervisorOptions) {
    this.maxRestarts = options.maxRestarts ?? 5;
    this.windowInMs = options.windowInMs ?? 60_000;
    this.initialBackoffInMs = options.initialBackoffInMs ?? 500;
    this.maxBackoffInMs = options.maxBackoffInMs ?? 8_000;
  }

  watch(component: SupervisedComponent): void {
    const process = component.current();
    void process.exited.then(
      (code) => this.exited(component, process, code),
      (error: unknown) => this.exited(component, process, error instanceof Error ? error.message : "spawn error"),
    );
  }

  /**
   * No more restarts: cancels pending backoffs and waits for restarts already starting a
   * process, so that whoever stops the cluster next finds every process it must stop.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const pending of this.backoffTimers) {
      clearTimeout(pending.timer);
      pending.resolve();
    }
    this.backoffTimers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  private exited(component: SupervisedComponent, process: ManagedProcess, code: number | string): void {
    if (this.stopping || this.gaveUp) return;
    // Stopped on purpose (a rolling restart, a test's restartNode): watch whatever replaces it.
    if (process.stopRequested || component.current() !== process) return void this.followReplacement(component, process);
    this.restartLater(component, process, code);
  }

  /** Counts the exit against the crash-loop limit, then restarts after the backoff (or gives up). */
  private restartLater(component: SupervisedComponent, process: ManagedProcess, code: number | string): void {
    if (this.stopping || this.gaveUp) return;
    const exitedAt = Date.now();
    const recent = (this.restartsAt.get(component.name) ?? []).filter((at) => exitedAt - at < this.windowInMs);
    if (recent.length >= this.maxRestarts) {
      this.gaveUp = true;
      this.options.onCrashLoop(
        `${component.name} is crash-looping: it exited (${code}) after ${recent.length} restarts in the last ${Math.round(this.windowInMs / 1000)} s; ` +
          `stopping the cluster. See ${process.logFile}`,
      );
      return;
    }
    recent.push(exitedAt);
    this.restartsAt.set(component.name, recent);
    const backoff = Math.min(this.maxBackoffInMs, this.initialBackoffInMs * 2 ** (recent.length - 1));
    this.options.log(
      `!!! ${component.name} exited unexpectedly (${code}); restarting it in ${(backoff / 1000).toFixed(1)} s ` +
        `(restart ${recent.length} of at most ${this.maxRestarts} in ${Math.round(this.windowInMs / 1000)} s). Its log: ${process.logFile}`,
    );
    const run = this.restartAfter(component, backoff, exitedAt, code).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  private async followReplacement(component: SupervisedComponent, old: ManagedProcess): Promise<void> {
    while (!this.stopping && component.current() === old) await new Promise((resolve) => setTimeout(resolve, 250).unref());
    if (!this.stopping) this.watch(component);
  }

  private async restartAfter(component: SupervisedComponent, backoffInMs: number, exitedAt: number, code: number | string): Promise<void> {
    await new Promise<void>((resolve) => {
      const pending = { timer: setTimeout(() => (this.backoffTimers.delete(pending), resolve()), backoffInMs), resolve };
      this.backoffTimers.add(pending);
    });
    if (this.stopping) return;
    try {
      await component.restart();
    } catch (error) {
      // Counted like an exit of the new process: backoff again, or give up as a crash loop. Not
      // through exited(): the restart may have stop()ped the old process, which marks it as asked to stop.
      this.options.log(`!!! ${component.name} failed to restart: ${error instanceof Error ? error.message : String(error)}`);
      this.restartLater(component, component.current(), "failed to start");
      return;
    }
    if (this.stopping) return;
    const readyAt = Date.now();
    this.restarts.push({ component: component.name, exitedAt, readyAt, exitCode: code });
    this.options.log(`!!! ${component.name} restarted and ready ${((readyAt - exitedAt) / 1000).toFixed(1)} s after it exited`);
    this.watch(component);
  }
}
