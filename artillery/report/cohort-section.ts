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
  // The same check on the nodes' own latency, without the generator's delay.
  const serverCheck = serverAck.length === 0 ? [] : [serverCheckLine(serverAck, reduction.check.baselinePhase, reduction.check.splitPhase)];
  return perPhaseMarkdown(reduction, serverCheck);
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
