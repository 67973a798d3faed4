/** Starts the project's own processes: socket nodes and flushers, from dist/. */
import { join } from "node:path";
import { REPO_ROOT } from "./paths.js";
import { startProcess, type ManagedProcess } from "./process.js";

export interface AppProcess {
  process: ManagedProcess;
  /** The port it reported over IPC once listening. */
  port: number;
  stop(deadlineInMs?: number): Promise<void>;
}

export interface AppOptions {
  name: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  startTimeoutInMs?: number;
}

export function startSocketNode(options: AppOptions): Promise<AppProcess> {
  return startApp(join(REPO_ROOT, "dist/server/main.js"), { ...options, env: { ...options.env, CHAT_NODE_NAME: options.name } });
}

/** The product's flusher; a test may start an entry of its own that wraps it (`entry`, relative to the repository). */
export function startFlusher(options: AppOptions, entry = "dist/storage/flusher/main.js"): Promise<AppProcess> {
  return startApp(join(REPO_ROOT, entry), { ...options, env: { ...options.env, CHAT_FLUSHER_NAME: options.name } });
}

/** Spawns `node script` and resolves once it sends { type: "listening", port } over IPC. */
async function startApp(script: string, { name, env, logFile, startTimeoutInMs = 30_000 }: AppOptions): Promise<AppProcess> {
  const child = startProcess({
    name,
    command: process.execPath,
    args: ["--enable-source-maps", script],
    env: { ...process.env, ...env },
    logFile,
    ipc: true,
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not report listening within ${startTimeoutInMs} ms; see ${logFile}`)),
      startTimeoutInMs,
    );
    child.child.on("message", (message: { type?: string; port?: number }) => {
      if (message?.type === "listening" && typeof message.port === "number") {
        clearTimeout(timer);
        resolve(message.port);
      }
    });
    child.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before listening; see ${logFile}`));
    }, reject);
  });
  return { process: child, port, stop: (deadlineInMs) => child.stop(deadlineInMs) };
}
