/**
 * The spike's per-phase section of summary.md (lib/per-phase.ts): only for a suite that tags its
 * figures per phase (`cohortSplitPhase` among its variables).
 */
import { readFileSync } from "node:fs";
import { serverCheckLine, type ServerPhaseAck } from "./server-per-phase.js";
import { metricSafe, PER_PHASE_HEADING, perPhaseMarkdown, phasesOfSuite, reducePerPhase, type AggregateLike } from "../lib/per-phase.js";

export function cohortSection(suiteFile: string, aggregate: AggregateLike, serverAck: readonly ServerPhaseAck[] = []): string[] {
  const text = readFileSync(suiteFile, "utf8");
  const split = /^\s*cohortSplitPhase:\s*"?([^"\n]+?)"?\s*$/m.exec(text);
  if (!split) return [];
  const reduction = reducePerPhase(aggregate, phasesOfSuite(text, suiteFile), metricSafe(split[1]!));
  const lines = perPhaseMarkdown(reduction);
  if (serverAck.length === 0) return lines;
  // Right under the client-side check: the same check on the nodes' own latency, without the generator's delay.
  const checkAt = lines.findIndex((line) => line.startsWith("- ack p99 of users already in"));
  lines.splice(checkAt + 1, 0, `- ${serverCheckLine(serverAck, reduction.check.baselinePhase, reduction.check.splitPhase)}`);
  return lines;
}

/** That section of a written summary.md, for the console at the end of a run ("" when it has none). */
export function cohortSectionOf(summaryMarkdown: string): string {
  return sectionOf(summaryMarkdown, PER_PHASE_HEADING);
}

/** The section under `heading` (a "## " line) of a written summary.md, up to the next one ("" when it has none). */
export function sectionOf(summaryMarkdown: string, heading: string): string {
  const start = summaryMarkdown.indexOf(heading);
  if (start < 0) return "";
  const end = summaryMarkdown.indexOf("\n## ", start + heading.length);
  return summaryMarkdown.slice(start, end < 0 ? undefined : end).trim();
}
