/** The machine a run happened on, for the README table. */
import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";

export interface Machine {
  cpuModel: string;
  cores: number;
  memory: string;
  node: string;
  kernel: string;
}

export function describeMachine(): Machine {
  const run = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: "utf8" }).trim();
    } catch {
      return "unknown";
    }
  };
  const freeTotal = run("free", ["-h"]).split("\n")[1]?.trim().split(/\s+/)[1];
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: Number(run("nproc", [])) || cpus().length,
    memory: freeTotal ?? `${(totalmem() / 2 ** 30).toFixed(1)}Gi`,
    node: process.version,
    kernel: run("uname", ["-r"]),
  };
}
