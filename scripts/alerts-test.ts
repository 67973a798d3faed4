/**
 * `npm run alerts:test`: checks the alert rules (helm/chat/rules/chat-alerts.yaml) with
 * `promtool check rules` and runs their unit tests (monitoring/alerts.test.yaml) with
 * `promtool test rules`. Installs Debian's prometheus (which ships promtool) when missing.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ensureMonitoringPackages } from "./infra/monitoring.js";
import { REPO_ROOT } from "./infra/paths.js";
import { ALERT_RULES_FILE } from "./infra/prometheus.js";

ensureMonitoringPackages();
for (const args of [
  ["check", "rules", ALERT_RULES_FILE],
  ["test", "rules", join(REPO_ROOT, "monitoring", "alerts.test.yaml")],
]) {
  console.log(`promtool ${args.join(" ")}`);
  const result = spawnSync("promtool", args, { stdio: "inherit", cwd: REPO_ROOT });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
