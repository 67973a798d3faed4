import assert from "node:assert/strict";
import { test } from "node:test";
import { gatewaySettingsFromEnv, isAddressOrCidr } from "./env.js";
import { DEFAULT_CLIENT_LIMITS, DEFAULT_WAITING_ROOM } from "./haproxy-config.js";

test("without env: the waiting room's defaults, a 10 s header timeout and no client limits", () => {
  assert.deepEqual(gatewaySettingsFromEnv({}), { httpRequestTimeoutInMs: 10_000, waitingRoom: DEFAULT_WAITING_ROOM });
});

test("every setting is read from its key", () => {
  const settings = gatewaySettingsFromEnv({
    CHAT_GATEWAY_NODE_MAXCONN: "0",
    CHAT_GATEWAY_QUEUE_TIMEOUT_MS: "2500",
    CHAT_GATEWAY_QUEUE_RETRY_AFTER_SECONDS: "3",
    CHAT_GATEWAY_HTTP_REQUEST_TIMEOUT_MS: "4000",
    CHAT_GATEWAY_CLIENT_LIMITS: "on",
    CHAT_GATEWAY_CLIENT_MAX_CONNECTIONS: "20",
    CHAT_GATEWAY_CLIENT_NEW_CONNECTIONS_PER_10S: "30",
    CHAT_GATEWAY_CLIENT_REQUESTS_PER_10S: "40",
    CHAT_GATEWAY_CLIENT_RETRY_AFTER_SECONDS: "7",
    CHAT_GATEWAY_TRUSTED_PROXIES: "10.0.0.0/8, fd00::/8",
    CHAT_GATEWAY_CLIENT_ADDRESS_HEADER: "",
  });
  assert.deepEqual(settings, {
    httpRequestTimeoutInMs: 4000,
    waitingRoom: { maxConnectionsPerNode: 0, queueTimeoutInMs: 2500, retryAfterInSeconds: 3 },
    clientLimits: {
      maxConnections: 20,
      newConnectionsPer10s: 30,
      requestsPer10s: 40,
      retryAfterInSeconds: 7,
      trustedProxies: ["10.0.0.0/8", "fd00::/8"],
      clientAddressHeader: "",
    },
  });
  assert.deepEqual(gatewaySettingsFromEnv({ CHAT_GATEWAY_CLIENT_LIMITS: "ON" }).clientLimits, DEFAULT_CLIENT_LIMITS);
});

test("a bad value names its key", () => {
  const bad: [string, string][] = [
    ["CHAT_GATEWAY_NODE_MAXCONN", "-1"],
    ["CHAT_GATEWAY_NODE_MAXCONN", "many"],
    ["CHAT_GATEWAY_QUEUE_TIMEOUT_MS", "0"],
    ["CHAT_GATEWAY_QUEUE_TIMEOUT_MS", "5s"],
    ["CHAT_GATEWAY_CLIENT_LIMITS", "yes"],
    ["CHAT_GATEWAY_CLIENT_MAX_CONNECTIONS", "1.5"],
    ["CHAT_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/33"],
    ["CHAT_GATEWAY_TRUSTED_PROXIES", "proxy.example.com"],
    ["CHAT_GATEWAY_CLIENT_ADDRESS_HEADER", "X-Real-IP\r\nEvil: 1"],
  ];
  for (const [key, value] of bad) {
    assert.throws(
      () => gatewaySettingsFromEnv({ [key]: value }),
      (error: Error) => error.message.startsWith(`${key} must`),
      `${key}=${value}`,
    );
  }
});

test("addresses and CIDRs of either family", () => {
  for (const ok of ["10.1.2.3", "10.0.0.0/8", "::1", "fd00::/8", "2001:db8::/128"]) assert.ok(isAddressOrCidr(ok), ok);
  for (const no of ["10.0.0.0/", "10.0.0.0/8/1", "300.1.1.1", "fd00::/129", "a.b", ""]) assert.ok(!isAddressOrCidr(no), no);
});
