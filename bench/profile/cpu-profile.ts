/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by package and by function, as a
 * share of the busy (non-idle) time, so a missed target can name what limits it.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

export interface Share {
  name: string;
  ms: number;
  percent: number;
}

export interface CpuSummary {
  busyMs: number;
  byPackage: Share[];
  /** Like byPackage, but time in native code and Node internals goes to the package that called it (e.g. a socket write to ioredis). */
  byCallingPackage: Share[];
  byFunction: Share[];
}

/** Where a frame's code comes from: an npm package, Node itself, our dist/, or a V8 pseudo-frame. */
function packageOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) return "node internals";
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match) return match[1]!;
  const ours = /\/dist\/([^/]+)\//.exec(url);
  return ours ? `ours: ${ours[1]}/` : url;
}

function top(map: Map<string, number>, total: number, count: number): Share[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => ({ name, ms, percent: (100 * ms) / total }));
}

export function summarizeCpuProfile(path: string, count = 12): CpuSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const intervalMs = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
  const byPackage = new Map<string, number>();
  const byCallingPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const parentOf = new Map<number, ProfileNode>();
  const nodesById = new Map(profile.nodes.map((node) => [node.id, node]));
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  const callingPackage = (node: ProfileNode): string => {
    for (let at: ProfileNode | undefined = node; at; at = parentOf.get(at.id)) {
      const pkg = packageOf(at.callFrame.url, at.callFrame.functionName);
      if (pkg !== "(native)" && pkg !== "node internals") return pkg;
    }
    return packageOf(node.callFrame.url, node.callFrame.functionName);
  };
  let busyMs = 0;
  for (const node of nodesById.values()) {
    const ms = (node.hitCount ?? 0) * intervalMs;
    const { functionName, url, lineNumber } = node.callFrame;
    if (ms === 0 || functionName === "(idle)") continue;
    busyMs += ms;
    const pkg = packageOf(url, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
    const caller = callingPackage(node);
    byCallingPackage.set(caller, (byCallingPackage.get(caller) ?? 0) + ms);
    const fn = `${functionName || "(anonymous)"} ${url ? `${url.replace(/^.*\/(node_modules|dist)\//, "")}:${lineNumber + 1}` : ""}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  }
  return {
    busyMs,
    byPackage: top(byPackage, busyMs, count),
    byCallingPackage: top(byCallingPackage, busyMs, count),
    byFunction: top(byFunction, busyMs, count),
  };
}

export function formatCpuSummary(title: string, summary: CpuSummary): string {
  const lines = [`${title}: ${summary.busyMs.toFixed(0)} ms busy (self time)`, "  by package:"];
  for (const share of summary.byPackage) lines.push(`    ${share.percent.toFixed(1).padStart(5)} %  ${share.name}`);
  lines.push("  by package, native code and Node internals charged to the package that called them:");
  for (const share of summary.byCallingPackage) lines.push(`    ${share.percent.toFixed(1).padStart(5)} %  ${share.name}`);
  lines.push("  by function:");
  for (const share of summary.byFunction) lines.push(`    ${share.percent.toFixed(1).padStart(5)} %  ${share.name}`);
  return lines.join("\n");
}
