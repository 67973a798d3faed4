/**
 * Gateway config tooling:
 *   node dist/gateway/cli.js write-chart          regenerate helm/chat/files/haproxy-routing.cfg
 *   node dist/gateway/cli.js check-chart          exit 1 when the committed chart copy differs
 *   node dist/gateway/cli.js local [--client-limits] NAME...
 *                                                 print a local haproxy.cfg for nodes NAME on
 *                                                 127.0.0.1 ports 1.. (helm:check runs the
 *                                                 chart's routing test against it too), with
 *                                                 the default per-address limits if asked
 */
import { CHART_RULES_FILE, readChartRules, REGENERATE_COMMAND, renderChartRules, writeChartRules } from "./chart-file.js";
import { DEFAULT_CLIENT_LIMITS, renderHaproxyConfig } from "./haproxy-config.js";

const [command, ...args] = process.argv.slice(2);
switch (command) {
  case "write-chart":
    writeChartRules();
    console.log(`wrote ${CHART_RULES_FILE}`);
    break;
  case "check-chart":
    if (readChartRules() !== renderChartRules()) {
      console.error(`${CHART_RULES_FILE} differs from gateway/routing.ts: run ${REGENERATE_COMMAND}`);
      process.exit(1);
    }
    console.log("chart gateway rules match gateway/routing.ts");
    break;
  case "local": {
    const clientLimits = args[0] === "--client-limits";
    const names = args.slice(clientLimits ? 1 : 0);
    if (names.length === 0 || !names.every((name) => /^[a-z][a-z0-9-]*$/.test(name))) {
      console.error("usage: cli.js local [--client-limits] NAME... (node names: lower-case letters, digits, dashes)");
      process.exit(2);
    }
    const backends = names.map((name, i) => ({ name, host: "127.0.0.1", port: i + 1 }));
    const config = { bindHost: "127.0.0.1", bindPort: 8080, statsPort: 8404, backends };
    process.stdout.write(renderHaproxyConfig(clientLimits ? { ...config, clientLimits: DEFAULT_CLIENT_LIMITS } : config));
    break;
  }
  default:
    console.error("usage: cli.js write-chart | check-chart | local [--client-limits] NAME...");
    process.exit(2);
}
