/**
 * The chart's copy of the gateway rules: routing.ts written as a Go template, which
 * helm/chat/templates/_haproxy.tpl renders with `tpl` over the chart's node groups.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderRules } from "./routing.js";
import { helmWriter } from "./writers.js";

/** dist/gateway/chart-file.js → the repository's helm/chat/files/ */
export const CHART_RULES_FILE = fileURLToPath(new URL("../../helm/chat/files/haproxy-routing.cfg", import.meta.url));

export const REGENERATE_COMMAND = "npm run build && node dist/gateway/cli.js write-chart";

export function renderChartRules(): string {
  const header = [
    `# Generated from gateway/routing.ts by \`${REGENERATE_COMMAND}\`: edit the source, not this file.`,
    "# The same rules run the local gateway (npm start); a unit test fails when this copy differs.",
  ];
  return [...header, renderRules(helmWriter())].join("\n");
}

export function writeChartRules(): void {
  writeFileSync(CHART_RULES_FILE, renderChartRules());
}

/** The committed chart copy, or undefined when it is missing. */
export function readChartRules(): string | undefined {
  try {
    return readFileSync(CHART_RULES_FILE, "utf8");
  } catch {
    return undefined;
  }
}
