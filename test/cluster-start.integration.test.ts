/**
 * `npm start` as a user runs it: the cluster script comes up, the gateway answers /readyz with
 * 200, and SIGINT (Ctrl-C) stops every process it started. Runs on its own ports and data dir.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../scripts/infra/paths.js";
import { freePort } from "../scripts/infra/process.js";

/** Every live descendant of `pid`, from /proc (children keep their parent even in another process group). */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 (ppid) follows the ")" that closes the command name, which may contain spaces.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // The process exited while we looked.
    }
  }
  const found: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        frontier.push(child);
      }
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("npm start brings the cluster up, /readyz answers 200, and Ctrl-C leaves no process", { timeout: 240_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "chat-start-"));
  const gatewayPort = await freePort();
  const cluster = spawn(process.execPath, [join(REPO_ROOT, "dist/scripts/cluster.js")], {
    env: {
      ...process.env,
      CHAT_LOCAL_DATA_DIR: dataDir,
      GATEWAY_PORT: String(gatewayPort),
      CHAT_LOCAL_REDIS_PORT: String(await freePort()),
      CHAT_LOCAL_CASSANDRA_PORT: String(await freePort()),
      CHAT_LOCAL_CASSANDRA_STORAGE_PORT: String(await freePort()),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  cluster.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  cluster.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => cluster.once("exit", (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      cluster.stdout.on("data", () => output.includes("Ctrl-C stops everything") && resolve());
      void exited.then((code) => reject(new Error(`cluster exited (${code}) before ready:\n${output}`)));
    });
    assert.match(output, new RegExp(`Chat cluster ready in [\\d.]+ s: http://127\\.0\\.0\\.1:${gatewayPort}`));
    assert.match(output, /dev token {3}eyJ/);
    assert.equal((await fetch(`http://127.0.0.1:${gatewayPort}/readyz`)).status, 200);

    const started = descendants(cluster.pid!);
    // Redis, Cassandra, HAProxy, two nodes and a flusher at least.
    assert.ok(started.length >= 6, `expected the cluster's processes, found ${started.length}`);
    cluster.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.deepEqual(started.filter(alive), [], "processes left behind after Ctrl-C");
  } finally {
    if (cluster.exitCode === null) cluster.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  }
});
