/**
 * Where a V8 CPU profile (`--cpu-prof`, e.g. LOAD_CPU_PROFILE=1 npm run load:load) spent its
 * time: self time by function and by package, so the generator's hot spots read in a terminal.
 *   node dist/artillery/report/cpu-profile.js <file.cpuprofile> [top]
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Hotspot {
  name: string;
  selfMs: number;
  share: number;
}

/** Self time per function and per package (node_modules/<pkg>, node: internals, or this project). */
export function hotspots(profile: CpuProfile): { functions: Hotspot[]; packages: Hotspot[]; totalMs: number; idleMs: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    totalUs += us;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const where = frame.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/dist\//, "dist/");
    const fn = `${frame.functionName || "(anonymous)"} ${where}:${frame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    packages.set(packageOf(frame), (packages.get(packageOf(frame)) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const rank = (map: Map<string, number>): Hotspot[] =>
    [...map].map(([name, us]) => ({ name, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 })).sort((a, b) => b.selfMs - a.selfMs);
  return { functions: rank(functions), packages: rank(packages), totalMs: totalUs / 1000, idleMs: idleUs / 1000 };
}

function packageOf(frame: ProfileNode["callFrame"]): string {
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url);
  if (module) return module[1]!;
  if (frame.url.startsWith("node:")) return "node (built-in)";
  if (frame.url === "") return frame.functionName.startsWith("(") ? frame.functionName : "native/V8";
  return /\/dist\/([^/]+\/(?:lib\/)?[^/]+)/.exec(frame.url)?.[1] ?? frame.url;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: node dist/artillery/report/cpu-profile.js <file.cpuprofile> [top]");
    process.exit(2);
  }
  const top = Number(process.argv[3] ?? 25);
  const { functions, packages, totalMs, idleMs } = hotspots(JSON.parse(readFileSync(file, "utf8")) as CpuProfile);
  const line = (h: Hotspot) => `${h.selfMs.toFixed(0).padStart(9)} ms ${(h.share * 100).toFixed(1).padStart(5)} %  ${h.name}`;
  console.log(
    `profile ${(totalMs / 1000).toFixed(1)} s, busy ${((totalMs - idleMs) / 1000).toFixed(1)} s (${((1 - idleMs / totalMs) * 100).toFixed(0)} % of one core); self time of busy:`,
  );
  console.log("by package:");
  for (const h of packages.slice(0, 15)) console.log(line(h));
  console.log("by function:");
  for (const h of functions.slice(0, top)) console.log(line(h));
}
