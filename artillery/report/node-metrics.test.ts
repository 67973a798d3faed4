import { test } from "node:test";
import assert from "node:assert/strict";
import { renderHaproxyConfig } from "../../gateway/haproxy-config.js";
import { nodeMetricsUrlsFromGatewayConfig } from "./node-metrics.js";

// The config `npm start` writes, rendered by the gateway's own code: a change to its layout breaks this test, not a load run.
const config = renderHaproxyConfig({
  bindHost: "127.0.0.1",
  bindPort: 8080,
  statsPort: 9999,
  backends: [
    { name: "n1", host: "127.0.0.1", port: 40001 },
    { name: "n2", host: "127.0.0.1", port: 40002 },
  ],
});

test("the node /metrics URLs come from the gateway config's backend servers", () => {
  assert.deepEqual(nodeMetricsUrlsFromGatewayConfig(config, 8080), ["http://127.0.0.1:40001/metrics", "http://127.0.0.1:40002/metrics"]);
});

test("a config of another gateway (a stale file, another port), or no config at all, gives none", () => {
  assert.deepEqual(nodeMetricsUrlsFromGatewayConfig(config, 8081), [], "the stats frontend's port is not the chat frontend's");
  assert.deepEqual(nodeMetricsUrlsFromGatewayConfig(config, 9999), []);
  assert.deepEqual(nodeMetricsUrlsFromGatewayConfig("", 8080), []);
});
